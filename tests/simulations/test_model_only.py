"""The model-only gossip simulation: parser, mesh, spread, load, election, report."""

import json
import math

import numpy as np
import pytest

from hivemesh.errors import ConfigError
from hivemesh.simulations import election_model
from hivemesh.simulations.gossip_model import GossipParams, simulate_advert
from hivemesh.simulations.latency import LatencySpec, ModelConfigError, parse_duration, parse_latency
from hivemesh.simulations.model_only import format_report, run_model_only
from hivemesh.simulations.topology import build_mesh

LOGNORMAL = parse_latency("lognormal:40ms,0.5")


def mesh(n, degree=6, latency=LOGNORMAL, seed=0):
    return build_mesh(n, degree, latency, np.random.default_rng(seed))


def spreads(m, origins, **params):
    p = GossipParams(**params)
    return [simulate_advert(m, o, p, seed=o) for o in origins]


# --- latency specs -------------------------------------------------------------


def test_latency_specs_parse():
    assert parse_latency("lognormal:40ms,0.5") == LatencySpec("lognormal", 0.04, 0.5)
    assert parse_latency(" Uniform:10ms, 100ms ") == LatencySpec("uniform", 0.01, 0.1)
    assert parse_latency("fixed:0.25s") == LatencySpec("fixed", 0.25)
    assert parse_duration("500us") == pytest.approx(0.0005)


def test_latency_samples_follow_the_spec():
    rng = np.random.default_rng(1)
    assert np.median(LOGNORMAL.sample(rng, 20_000)) == pytest.approx(0.04, rel=0.03)
    uniform = parse_latency("uniform:10ms,100ms").sample(rng, 5_000)
    assert uniform.min() >= 0.01 and uniform.max() <= 0.1
    assert set(parse_latency("fixed:40ms").sample(rng, 10)) == {0.04}


@pytest.mark.parametrize("spec, hint", [
    ("gauss:40ms,1", "want one of"),
    ("lognormal40ms", "want one of"),
    ("lognormal:40,0.5", "unit"),
    ("lognormal:40ms", "takes 2 argument"),
    ("lognormal:40ms,-1", "sigma"),
    ("lognormal:40ms,abc", "not a number"),
    ("lognormal:0ms,0.5", "median"),
    ("uniform:100ms,10ms", "above max"),
    ("uniform:10ms,", "takes 2 argument"),
    ("fixed:-5ms", "unit"),
    ("fixed:2h", "unit"),
    ("fixed:99s", "within"),
    ("", "want one of"),
])
def test_bad_latency_specs_are_clear_value_errors(spec, hint):
    with pytest.raises(ValueError, match=hint) as info:
        parse_latency(spec)
    assert isinstance(info.value, ConfigError)
    assert repr(spec) in str(info.value) or spec == ""


# --- mesh ----------------------------------------------------------------------


def test_mesh_is_connected_regular_ish_and_seeded():
    m = mesh(2000)
    deg = m.degrees()
    assert deg.min() >= 4 and deg.max() <= 13 and abs(deg.mean() - 6) < 0.1
    assert all(u in m.neighbours[v] for u in range(200) for v in m.neighbours[u])
    assert all(not set(m.others[u]) & set(m.neighbours[u]) and u not in m.others[u] for u in range(2000))
    assert mesh(2000).neighbours == m.neighbours and mesh(2000, seed=1).neighbours != m.neighbours
    reached = spreads(m, [0], lazy=False)[0].reached
    assert reached == 1.0  # connected: eager push alone reaches everyone


# --- spread --------------------------------------------------------------------


def test_spread_is_deterministic_for_a_seed():
    m = mesh(1000)
    a, b = spreads(m, [3], loss=0.2), spreads(m, [3], loss=0.2)
    assert np.array_equal(a[0].arrival, b[0].arrival) and a[0].counts == b[0].counts
    other = simulate_advert(m, 3, GossipParams(loss=0.2), seed=99)
    assert not np.array_equal(a[0].arrival, other.arrival)


def test_every_peer_receives_without_loss_and_no_faster_than_its_links():
    m = mesh(1500, latency=parse_latency("fixed:10ms"))
    for s in spreads(m, [0, 700]):
        assert s.reached == 1.0
        assert s.arrival[s.origin] == 0.0
        got = np.delete(np.arange(1500), s.origin)
        assert np.all(s.arrival[got] >= s.hops[got] * 0.010)
        assert np.all(s.hops[got] >= 1)


def test_lazy_gossip_recovers_what_loss_drops_eager_only_does_not():
    m = mesh(2000)
    origins = [0, 500, 1000, 1500, 1999]
    lazy = np.mean([s.reached for s in spreads(m, origins, loss=0.3, lazy=True)])
    eager = np.mean([s.reached for s in spreads(m, origins, loss=0.3, lazy=False)])
    assert lazy >= 0.999
    assert eager < lazy
    assert eager < 0.9995


def test_some_peers_get_their_first_copy_by_iwant_under_loss():
    m = mesh(2000)
    origins = range(0, 2000, 250)
    lazy = sum(s.via_lazy for s in spreads(m, origins, loss=0.3))
    assert lazy > 0  # some peers got their first copy only through IHAVE/IWANT


def test_convergence_grows_about_logarithmically_with_peers():
    small = spreads(mesh(100), [0, 1, 2])
    large = spreads(mesh(3000), [0, 1, 2])
    med_hops = [np.median(np.concatenate([s.hops for s in group])) for group in (small, large)]
    med_time = [np.median(np.concatenate([s.arrival for s in group])) for group in (small, large)]
    assert med_hops[0] < med_hops[1] <= med_hops[0] * 3  # 30x the peers, ~2x the hops
    assert med_time[1] < med_time[0] * 3


# --- load ----------------------------------------------------------------------


def test_load_per_peer_grows_with_peers_and_matches_eager_push():
    small = run_model_only(500, origins=4, seed=1)["gossip_per_peer"]
    large = run_model_only(2000, origins=4, seed=1)["gossip_per_peer"]
    assert small["how"] == large["how"] == "derived"
    assert large["per_advert_per_peer"]["eager_sent"] == pytest.approx(5.0, abs=0.2)  # degree - 1
    assert large["per_advert_per_peer"]["ihave_sent"] == pytest.approx(18.0, abs=0.5)  # 3 x d_lazy
    assert large["msgs_out_s"] / small["msgs_out_s"] == pytest.approx(4.0, rel=0.1)
    assert large["uplink_utilisation"] > small["uplink_utilisation"]
    assert large["msgs_in_s"] == large["msgs_out_s"]  # no loss


def test_loss_shows_in_received_load():
    load = run_model_only(300, origins=3, loss=0.25)["gossip_per_peer"]
    assert load["msgs_in_s"] == pytest.approx(load["msgs_out_s"] * 0.75, rel=0.01)


# --- election ------------------------------------------------------------------


def test_rendezvous_elect_is_order_free_and_top_k():
    ids = [f"p{i}" for i in range(50)]
    top = election_model.rendezvous_elect(ids, 3)
    assert len(top) == 3 and top == election_model.rendezvous_elect(list(reversed(ids)), 3)
    assert election_model.rendezvous_elect(ids + top, 3) == top
    from hivemesh.gateway.election import elect

    assert top == elect(ids, 3)  # the model elects as the peers do


def test_agreement_follows_arrivals_and_uses_the_injected_election():
    def lowest(ids, k):
        return sorted(ids)[:k]

    arrivals = np.array([[0.0, 0.3, 1.5, math.inf]])  # joiner "a" reaches peers at these times
    out = election_model.agreement(arrivals, ["a"], ["b", "c"], 1, (0.1, 1.0, 2.0), lowest)
    assert out == {"0.1": 0.25, "1.0": 0.5, "2.0": 0.75}
    same = election_model.agreement(arrivals, ["z"], ["b", "c"], 1, (0.1,), lowest)
    assert same == {"0.1": 1.0}  # a joiner outside the top k changes nobody's answer


def test_run_uses_an_injected_election():
    seen = []

    def elect(ids, k):
        seen.append(len(ids))
        return sorted(ids)[:k]

    report = run_model_only(200, origins=3, elect=elect)
    assert seen and report["election_agreement"]["elect"].endswith("elect")
    assert report["election_agreement"]["agree_by_s"]["2.0"] == 1.0


# --- the report ----------------------------------------------------------------


def test_report_is_deterministic_json_and_formats():
    a = run_model_only(1000, origins=5, seed=7, loss=0.1)
    b = run_model_only(1000, origins=5, seed=7, loss=0.1)
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b
    assert run_model_only(1000, origins=5, seed=8, loss=0.1)["convergence_s"] != a["convergence_s"]
    a["wall_s"] = 0.5
    json.dumps(a, allow_nan=False)
    assert a["mode"] == "model-only (discrete-event, simulated network)"
    assert set(a["convergence_s"]) == {"p50", "p90", "p99", "max"}
    assert set(a["fraction_by_s"]) == {"0.5", "1.0", "2.0"}
    assert a["goal_99pct_within_2s"] is True
    text = format_report(a)
    assert "goal: 99% within 2 s" in text and "1000 peers" in text


@pytest.mark.parametrize("kwargs, hint", [
    ({"peers": 1}, "peers"),
    ({"peers": 10, "degree": 10}, "degree"),
    ({"peers": 10, "loss": 1.0}, "loss"),
    ({"peers": 10, "interval": 0}, "interval"),
    ({"peers": 10, "origins": 0}, "origins"),
    ({"peers": 10, "latency": "normal:1ms"}, "latency"),
])
def test_bad_settings_are_value_errors(kwargs, hint):
    with pytest.raises(ModelConfigError, match=hint):
        run_model_only(**kwargs)


@pytest.mark.slow
def test_ten_thousand_peers_one_origin():
    report = run_model_only(10_000, origins=1)
    assert report["reached_fraction"] == 1.0
    assert report["goal_99pct_within_2s"]
    assert report["gossip_per_peer"]["sustainable"] is False  # 2 s adverts from 10k peers saturate 20 Mbit/s
    assert report["wall_s"] < 20
