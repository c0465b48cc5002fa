"""Model-only simulation: advert gossip over a simulated network of many peers.

What one machine cannot host as real peers (1,000-10,000 of them) is
estimated with a discrete-event model (``gossip_model``) over a random
gossipsub-like mesh (``topology``):

(a) convergence: one peer publishes a new advert at t=0, for ``origins``
    random publishers; when does each peer hold it?
(b) steady-state load per peer when every peer advertises every
    ``interval``: per-advert message counts are simulated, rates are derived
    from them (see ``gossip_load``);
(c) election agreement: the origins' adverts are treated as gateway-eligible
    peers joining at t=0; what fraction of peers elect the converged top k?

``run_model_only`` returns a JSON-able report; ``format_report`` renders it.
Links are assumed idle apart from the advert being followed, so (a) holds
only where (b) says the links and CPUs are not saturated.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np

from hivemesh.simulations import election_model
from hivemesh.simulations.election_model import Elect
from hivemesh.simulations.gossip_model import GossipParams, Spread, simulate_advert
from hivemesh.simulations.latency import ModelConfigError, parse_latency
from hivemesh.simulations.topology import Mesh, build_mesh

log = logging.getLogger(__name__)

MODE = "model-only (discrete-event, simulated network)"
CHECKPOINTS_S = (0.5, 1.0, 2.0)
ELECTION_TIMES_S = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
QUANTILES = (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
PROVENANCE = {
    "simulated": "convergence_s, fraction_by_s, hops, reached_fraction, election_agreement "
                 "(one advert at a time over idle links, at the stated peer count)",
    "derived": "gossip_per_peer: simulated per-advert counts x peers/interval adverts per second; "
               "utilisation, CPU and the peer/interval limits follow from those rates",
}
GOAL_FRACTION, GOAL_S = 0.99, 2.0


def run_model_only(peers: int, degree: int = 6, latency: str = "lognormal:40ms,0.5",
                   loss: float = 0.0, interval: float = 2.0, origins: int = 20,
                   seed: int = 0, lazy: bool = True, *, connections: int = 12,
                   bandwidth_mbps: float = 20.0, k: int = 3, eligible: int = 20,
                   elect: Elect | None = None) -> dict:
    """Simulate advert gossip among ``peers`` and report convergence, load, agreement.

    ``latency`` is a spec for ``parse_latency``; ``loss`` the chance each
    transmission is dropped; ``interval`` how often every peer re-advertises
    (for the load figures); ``origins`` how many random publishers to average
    over; ``connections`` each peer's connected peers, mesh included (lazy
    gossip goes to the non-mesh ones); ``bandwidth_mbps`` each peer's uplink;
    ``k``/``eligible``/``elect`` set up the election check. Bad settings raise
    ``ModelConfigError`` (a ``ValueError``). Deterministic for ``seed``
    except ``wall_s``.
    """
    started = time.perf_counter()
    _check(peers, degree, loss, interval, origins, connections, bandwidth_mbps, k, eligible)
    spec = parse_latency(latency)
    params = replace(GossipParams(), lazy=lazy, loss=loss, bandwidth_bps=bandwidth_mbps * 1e6)
    rng = np.random.default_rng(seed)
    mesh = build_mesh(peers, degree, spec, rng, connections=connections)
    chosen = rng.choice(peers, size=min(origins, peers), replace=False).tolist()
    spreads = [simulate_advert(mesh, o, params, seed * 1_000_003 + i) for i, o in enumerate(chosen)]
    report = {
        "mode": MODE, "peers": peers, "degree": degree, "latency": latency, "loss": loss,
        "lazy": lazy, "interval_s": interval, "origins": len(spreads), "seed": seed,
        "mesh": _mesh_summary(mesh, connections),
        **convergence(spreads),
        "gossip_per_peer": gossip_load(spreads, peers, interval, params),
        "election_agreement": _election(spreads, peers, k, eligible,
                                        elect or election_model.rendezvous_elect, rng),
        "assumptions": _assumptions(params),
        "provenance": PROVENANCE,
    }
    report["wall_s"] = round(time.perf_counter() - started, 3)
    log.info("model-only: %d peers, %d origins, p99 %s s, %.2f s wall",
             peers, len(spreads), report["convergence_s"]["p99"], report["wall_s"])
    return report


def _check(peers: int, degree: int, loss: float, interval: float, origins: int,
           connections: int, bandwidth_mbps: float, k: int, eligible: int) -> None:
    problems = [
        (peers < 2, f"peers must be >= 2 (got {peers})"),
        (not 1 <= degree < peers, f"degree must be in 1..peers-1 (got {degree})"),
        (not 0.0 <= loss < 1.0, f"loss must be in [0, 1) (got {loss})"),
        (not (math.isfinite(interval) and interval > 0), f"interval must be > 0 s (got {interval})"),
        (origins < 1, f"origins must be >= 1 (got {origins})"),
        (connections < 0, f"connections must be >= 0 (got {connections})"),
        (not (math.isfinite(bandwidth_mbps) and bandwidth_mbps > 0), "bandwidth must be > 0 Mbit/s"),
        (k < 1, f"k must be >= 1 (got {k})"),
        (eligible < 0, f"eligible must be >= 0 (got {eligible})"),
    ]
    for bad, message in problems:
        if bad:
            raise ModelConfigError(message)


def convergence(spreads: list[Spread]) -> dict:
    """(a): arrival-time percentiles and fractions, pooled over origins."""
    times = np.concatenate([_others(s, s.arrival) for s in spreads])
    hops = np.concatenate([_others(s, s.hops) for s in spreads])
    hops = hops[hops >= 0]
    by_origin = [_others(s, s.arrival) for s in spreads]
    worst = min(float((a <= GOAL_S).mean()) for a in by_origin)
    received = sum(s.via_lazy for s in spreads)
    return {
        "convergence_s": {q: _seconds(times, pct) for q, pct in QUANTILES},
        "fraction_by_s": {f"{t:.1f}": round(float((times <= t).mean()), 5) for t in CHECKPOINTS_S},
        "worst_origin_fraction_by_2s": round(worst, 5),
        "goal_99pct_within_2s": worst >= GOAL_FRACTION,
        "reached_fraction": round(float(np.isfinite(times).mean()), 5),
        "first_copy_by_iwant_fraction": round(received / max(1, len(times)), 5),
        "hops": {"p50": _pct(hops, 50), "p99": _pct(hops, 99), "max": _pct(hops, 100)},
    }


def _others(spread: Spread, values: np.ndarray) -> np.ndarray:
    return np.delete(values, spread.origin)


def _pct(values: np.ndarray, pct: float) -> float | None:
    if values.size == 0:
        return None
    value = float(np.percentile(values, pct, method="higher"))
    return value if math.isfinite(value) else None


def _seconds(values: np.ndarray, pct: float) -> float | None:
    value = _pct(values, pct)
    return None if value is None else round(value, 4)


def gossip_load(spreads: list[Spread], peers: int, interval: float, params: GossipParams) -> dict:
    """(b): per-peer rates when every peer publishes every ``interval``.

    Per advert, the network-wide counts of each kind of transmission are
    simulated (mean over origins). With ``peers / interval`` adverts a
    second, a peer's share is ``count / peers * peers / interval``, i.e.
    ``count / interval``. IHAVEs are batched per heartbeat, so their ids cost
    bytes per advert but their RPC count is ``d_lazy`` per heartbeat.
    """
    mean = {key: float(np.mean([s.counts[key] for s in spreads])) for key in spreads[0].counts}
    msg_b, ctl_b, id_b = params.message_bytes, params.control_bytes, params.id_bytes
    ihave_rpcs = _ihave_rpcs_per_s(spreads, params)
    messages = mean["eager_sent"] + mean["iwant_reply_sent"]
    msgs_out = (messages + mean["iwant_sent"]) / interval + ihave_rpcs
    bytes_out = (messages * msg_b + mean["iwant_sent"] * (ctl_b + id_b)
                 + mean["ihave_sent"] * id_b) / interval + ihave_rpcs * ctl_b
    keep = 1.0 - params.loss
    utilisation = bytes_out * 8 / params.bandwidth_bps
    cpu = (peers - 1) / interval * params.proc_s
    return {
        "msgs_in_s": round(msgs_out * keep, 1), "msgs_out_s": round(msgs_out, 1),
        "bytes_in_s": round(bytes_out * keep), "bytes_out_s": round(bytes_out),
        "how": "derived",
        "basis": (f"per-advert transmission counts simulated at N={peers} (mean of {len(spreads)} origins, "
                  f"idle links), times N/interval adverts per second; received = sent x (1 - loss); "
                  "IHAVE RPCs = d_lazy per heartbeat"),
        "per_advert_per_peer": {k: round(v / peers, 3) for k, v in mean.items()},
        "verify_cpu_fraction": round(cpu, 3),
        "uplink_utilisation": round(utilisation, 3),
        "max_peers_at_uplink": int(peers / utilisation) if utilisation > 0 else None,
        "max_peers_at_cpu": int(interval / params.proc_s) + 1,
        "min_interval_s_at_uplink": round(interval * utilisation, 2),
        "sustainable": utilisation < 1.0 and cpu < 1.0,
    }


def _ihave_rpcs_per_s(spreads: list[Spread], params: GossipParams) -> float:
    if not params.lazy or not spreads:
        return 0.0
    sent = np.mean([s.counts["ihave_sent"] for s in spreads])
    holders = np.mean([np.isfinite(s.arrival).sum() for s in spreads])
    per_heartbeat = sent / max(1.0, holders) / params.gossip_window  # mean targets per peer
    return float(per_heartbeat / params.heartbeat_s)


def _election(spreads: list[Spread], peers: int, k: int, eligible: int, elect: Elect,
              rng: np.random.Generator) -> dict:
    """(c): the origins join as gateway-eligible peers at t=0."""
    ids = [f"sim-peer-{i:05d}" for i in range(peers)]
    joined_idx = {s.origin for s in spreads}
    rest = [i for i in range(peers) if i not in joined_idx]
    base_idx = rng.choice(rest, size=min(eligible, len(rest)), replace=False).tolist() if rest else []
    joined = [ids[s.origin] for s in spreads]
    base = [ids[i] for i in base_idx]
    arrivals = np.vstack([s.arrival for s in spreads])
    before = frozenset(elect(list(base), k)) if base else frozenset()
    after = frozenset(elect(base + joined, k))
    return {
        "k": k, "eligible_before": len(base), "joined": len(joined),
        "top_k_changed": before != after,
        "elect": getattr(elect, "__module__", "?") + "." + getattr(elect, "__qualname__", repr(elect)),
        "agree_by_s": election_model.agreement(arrivals, joined, base, k, ELECTION_TIMES_S, elect),
    }


def _mesh_summary(mesh: Mesh, connections: int) -> dict:
    deg = mesh.degrees()
    return {"degree_min": int(deg.min()), "degree_mean": round(float(deg.mean()), 2),
            "degree_max": int(deg.max()), "connections": connections}


def _assumptions(p: GossipParams) -> dict:
    return {
        "proc_ms": p.proc_s * 1e3, "uplink_mbps": p.bandwidth_bps / 1e6,
        "message_bytes": p.message_bytes, "id_bytes": p.id_bytes, "control_bytes": p.control_bytes,
        "heartbeat_s": p.heartbeat_s, "d_lazy": p.d_lazy, "gossip_window": p.gossip_window,
        "idle_links": "convergence ignores queueing behind other peers' adverts",
    }


def format_report(report: dict) -> str:
    """A human-readable table of ``run_model_only``'s report."""
    conv, frac, load, elect = (report["convergence_s"], report["fraction_by_s"],
                               report["gossip_per_peer"], report["election_agreement"])
    rows = [
        ("mode", report["mode"]),
        ("network", f"{report['peers']} peers, degree {report['degree']}, latency {report['latency']}, "
                    f"loss {report['loss']}, lazy gossip {'on' if report['lazy'] else 'off'}"),
        ("origins simulated", str(report["origins"])),
        ("adverts", _fmt_cadence(report)),
        ("convergence p50/p90/p99/max", " / ".join(_fmt_s(conv[q]) for q in ("p50", "p90", "p99", "max"))),
        ("holding by 0.5 s / 1 s / 2 s", " / ".join(f"{frac[t] * 100:.2f}%" for t in ("0.5", "1.0", "2.0"))),
        ("worst origin by 2 s", f"{report['worst_origin_fraction_by_2s'] * 100:.2f}%"),
        ("goal: 99% within 2 s", ("met" if report["goal_99pct_within_2s"] else "NOT met") + (
            "" if load["sustainable"] else " on idle links only: the load below saturates them")),
        ("hops p50/p99/max", " / ".join(str(report["hops"][q]) for q in ("p50", "p99", "max"))),
        ("first copy via IWANT", f"{report['first_copy_by_iwant_fraction'] * 100:.2f}%"),
        ("gossip per peer (derived)", f"out {load['msgs_out_s']:,.0f} msg/s {_fmt_b(load['bytes_out_s'])}, "
                                      f"in {load['msgs_in_s']:,.0f} msg/s {_fmt_b(load['bytes_in_s'])}"),
        ("uplink use / verify CPU", f"{load['uplink_utilisation'] * 100:.0f}% of "
                                    f"{report['assumptions']['uplink_mbps']:g} Mbit/s / "
                                    f"{load['verify_cpu_fraction'] * 100:.0f}% of a core"),
        ("sustainable at this interval", f"{'yes' if load['sustainable'] else 'NO'} (uplink allows ~"
                                         f"{load['max_peers_at_uplink']} peers or interval >= "
                                         f"{load['min_interval_s_at_uplink']} s)"),
        (f"top-{elect['k']} agreement at " + "/".join(elect["agree_by_s"]) + " s", " / ".join(
            f"{v * 100:.1f}%" for v in elect["agree_by_s"].values())
            + f" ({elect['joined']} joined, {elect['eligible_before']} before, "
              f"changed: {elect['top_k_changed']})"),
        ("wall time", f"{report['wall_s']:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _fmt_cadence(report: dict) -> str:
    c = report.get("advert_cadence")
    if c is None:
        return f"every {report['interval_s']:g} s"
    return (f"every {c['period_s']:g} s (at least {c['min_interval_s']:g} s, {c['budget_per_peer_s']:g}/s per "
            f"peer, at most {c['ceiling_s']:g} s)")


def _fmt_s(value: float | None) -> str:
    return "never" if value is None else f"{value * 1e3:.0f} ms"


def _fmt_b(bytes_per_s: float) -> str:
    return f"{bytes_per_s / 1e6:.2f} MB/s ({bytes_per_s * 8 / 1e6:.1f} Mbit/s)"
