"""The simulation harness's pure parts: settings, schedules, bookkeeping, report files."""

import argparse
import json
import sys

import pytest
import trio

from hivemesh.errors import ConfigError
from hivemesh.mesh import wire
from hivemesh.gateway.jobwire import JobEvent, JobResult
from hivemesh.gateway.store import MemoryStore
from hivemesh.planner.base import PlanRequest
from hivemesh.simulations import command
from hivemesh.simulations.audit import audit_store
from hivemesh.simulations.dists import parse_latency_dist, parse_rate_dist
from hivemesh.mesh.stream import Stream as EdgeStream
from hivemesh.simulations.schedule import Fault, build_schedule, pick
from hivemesh.simulations.settings import SimSettings, resolve
from hivemesh.simulations.tracker import Tracker
from hivemesh.simulations.workload import capability_count, chain_plan, draw_worker, slow_slots


# --- settings ---------------------------------------------------------------------


def test_jobs_rate_and_duration_imply_each_other():
    assert (resolve(SimSettings()).jobs, resolve(SimSettings()).rate) == (20, 2.0)
    s = resolve(SimSettings(rate=5, duration=10))
    assert (s.jobs, s.rate) == (50, 5)
    s = resolve(SimSettings(jobs=30, duration=10))
    assert (s.jobs, s.rate) == (30, 3.0)


def test_scenarios_imply_their_faults():
    assert resolve(SimSettings(scenario="kill-workers")).kills == 3
    assert resolve(SimSettings(scenario="kill-gateway")).kills == 1
    assert resolve(SimSettings(scenario="kill-workers", kill_at=(1.0, 2.0))).kills == 2
    assert resolve(SimSettings(scenario="churn")).churn_rate == 0.5
    assert resolve(SimSettings(scenario="steady")).kills == 0


@pytest.mark.parametrize("settings, hint", [
    (SimSettings(peers=2, gateways=2), "at least one worker"),
    (SimSettings(scenario="storm"), "--scenario"),
    (SimSettings(jobs=5, rate=1, duration=5), "not all three"),
    (SimSettings(stages=0), "--stages"),
    (SimSettings(model_latency="fixed:200"), "--model-latency"),
    (SimSettings(model_tps="fast"), "--model-tps"),
    (SimSettings(model_tps="uniform:80,20"), "min <= max"),
    (SimSettings(slow_fraction=1.5), "--slow-fraction"),
    (SimSettings(scenario="kill-workers", kills=2, kill_at=(1.0,)), "--kill-at"),
])
def test_bad_settings_are_config_errors_that_name_the_flag(settings, hint):
    with pytest.raises(ConfigError, match=hint):
        resolve(settings)


def test_distributions_parse_and_draw():
    import numpy as np

    rng = np.random.default_rng(0)
    assert parse_latency_dist("fixed:200ms", "x").draw(rng) == pytest.approx(0.2)
    assert parse_rate_dist("fixed:0", "x").is_zero()
    values = [parse_rate_dist("uniform:20,80", "x").draw(rng) for _ in range(200)]
    assert 20 <= min(values) and max(values) <= 80


# --- schedules ------------------------------------------------------------------------


def test_the_seed_fixes_the_schedule():
    s = resolve(SimSettings(scenario="kill-workers", kills=5, churn_rate=0.5, seed=3))
    assert build_schedule(s) == build_schedule(s)
    other = build_schedule(resolve(SimSettings(scenario="kill-workers", kills=5, churn_rate=0.5, seed=4)))
    assert other != build_schedule(s)
    schedule = build_schedule(s)
    assert [a.index for a in schedule.arrivals] == list(range(20)) and schedule.arrivals[0].at == 0
    kills = [f for f in schedule.faults if f.kind == "kill-worker"]
    assert len(kills) == 5 and all(0.5 <= f.at <= schedule.window_s for f in kills)
    assert any(f.kind == "churn" for f in schedule.faults)
    assert [f.at for f in schedule.faults] == sorted(f.at for f in schedule.faults)


def test_bursts_and_chosen_kill_moments():
    s = resolve(SimSettings(scenario="burst", jobs=10, burst_size=4, burst_every=2.5))
    assert [a.at for a in build_schedule(s).arrivals] == [0.0] * 4 + [2.5] * 4 + [5.0] * 2
    s = resolve(SimSettings(scenario="kill-gateway", kill_at=(3.0, 1.0)))
    assert [(f.at, f.kind) for f in build_schedule(s).faults] == [(1.0, "kill-gateway"), (3.0, "kill-gateway")]


def test_a_fault_picks_its_target_by_its_draw():
    assert pick(["c", "a", "b"], Fault(1.0, "kill-worker", 0.0)) == "a"
    assert pick(["c", "a", "b"], Fault(1.0, "kill-worker", 0.99)) == "c"
    assert pick([], Fault(1.0, "kill-worker", 0.5)) is None


# --- workload -------------------------------------------------------------------------


def test_chain_plan_is_valid_and_spreads_capabilities():
    ncaps = capability_count(stages=3, workers=6)
    assert ncaps == 3
    plan = chain_plan(5, ncaps)
    assert [s.depends_on for s in plan.subtasks] == [(), ("s0",), ("s1",), ("s2",), ("s3",)]
    assert plan.answer == "s4"
    request = PlanRequest.for_job("job", ("input",), {"summarize", "analysis", "general"})
    assert request.check(plan) == plan
    assert capability_count(stages=3, workers=3) == 1  # fewer than two workers per capability: one capability


def test_worker_models_are_seeded_and_slow_peers_counted():
    lat, tps = parse_latency_dist("lognormal:200ms,0.5", "x"), parse_rate_dist("fixed:50", "x")
    slow = parse_latency_dist("fixed:100ms", "x")
    a = draw_worker(2, 0, 3, lat, tps, False, slow, seed=1)
    assert a == draw_worker(2, 0, 3, lat, tps, False, slow, seed=1)
    assert a != draw_worker(2, 1, 3, lat, tps, False, slow, seed=1)  # a replacement draws anew
    assert a.capability == "general" and a.added_latency_s == 0
    assert draw_worker(2, 0, 3, lat, tps, True, slow, seed=1).added_latency_s == pytest.approx(0.1)
    assert "latency=" in a.spec("sim-w2", 8) and a.spec("sim-w2", 8).startswith("general=sim:sim-w2?")
    assert len(slow_slots(10, 0.3, seed=0)) == 3 and slow_slots(10, 0.0, seed=0) == frozenset()


# --- the tracker ------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def ev(job, index, kind, sid="", peer="", result=None):
    return JobEvent(job_id=job, index=index, kind=kind, subtask_id=sid, peer_id=peer, result=result)


def done(job, gateway="g1"):
    return JobResult(job_id=job, status="done", answer="a", error="", plan=None, subtasks=(), accounting=None,
                     gateway=gateway, seconds=1.0)


def test_worker_kill_recovery_is_the_time_to_a_restart_elsewhere():
    clock = Clock()
    t = Tracker(clock)
    t.job(0, "j")
    t.submitted("j")
    t.on_event(ev("j", 0, "accepted", peer="g1"))
    t.on_event(ev("j", 1, "subtask_started", "s0", "w1"))
    t.on_event(ev("j", 2, "subtask_started", "s1", "w2"))
    assert t.busy_peers() == ["w1", "w2"]
    clock.t = 1.0
    fault = t.fault("kill-worker", "w1", "w1")
    assert fault.affected == {("j", "s0")}
    clock.t = 1.5
    t.on_event(ev("j", 3, "subtask_started", "s0", "w1"))  # a stale placement on the victim does not count
    clock.t = 3.25
    t.on_event(ev("j", 4, "subtask_started", "s0", "w3"))
    assert fault.recovered == {("j", "s0"): 2.25} and fault.unrecovered == 0
    t.on_event(ev("j", 5, "done", result=done("j")))
    t.finished("j", done("j"))
    assert t.jobs["j"].outcome == "completed" and not t.jobs["j"].duplicated and t.busy_peers() == []


def test_work_the_victim_had_finished_is_settled_not_recovered():
    clock = Clock()
    t = Tracker(clock)
    t.job(0, "j")
    t.on_event(ev("j", 0, "subtask_started", "s0", "w1"))
    fault = t.fault("kill-worker", "w1", "w1")
    t.on_event(ev("j", 1, "subtask_finished", "s0", "w1"))  # its report was already on the way
    assert fault.settled == {("j", "s0")} and fault.unrecovered == 0 and not fault.recovered


def test_gateway_kill_recovery_is_the_time_to_the_resumption():
    clock = Clock()
    t = Tracker(clock)
    for i, job in enumerate(("a", "b")):
        t.job(i, job)
        t.on_event(ev(job, 0, "accepted", peer="g1" if job == "a" else "g2"))
    clock.t = 2.0
    fault = t.fault("kill-gateway", "g1", "g1")
    assert fault.affected == {("a", "")}
    clock.t = 10.5
    t.on_event(ev("a", 1, "resumed", peer="g2"))
    assert fault.recovered == {("a", ""): 8.5}


def test_duplicates_are_repeated_events_or_second_answers():
    t = Tracker(Clock())
    for i, job in enumerate(("once", "replayed", "twice")):
        t.job(i, job)
    t.on_event(ev("once", 0, "done", result=done("once")))
    t.on_event(ev("replayed", 0, "accepted", peer="g"))
    t.on_event(ev("replayed", 0, "accepted", peer="g"))
    t.on_event(ev("twice", 0, "done", result=done("twice")))
    t.on_event(ev("twice", 1, "done", result=done("twice")))
    assert [t.jobs[j].duplicated for j in ("once", "replayed", "twice")] == [False, True, True]


def test_busy_answers_are_counted_apart_and_a_job_never_taken_is_rejected_not_failed():
    from hivemesh.simulations.report import _job_counts, _reason

    t = Tracker(Clock())
    for i, job in enumerate(("waited", "turned-away", "broke")):
        t.job(i, job)
        t.submitted(job)
    for job in ("waited", "turned-away"):
        t.on_event(ev(job, 0, "busy", peer="g1"))  # a gateway's answer
        t.on_event(ev(job, 0, "busy"))  # the client waiting: not an answer
        t.on_event(ev(job, 0, "busy", peer="g2"))
    t.on_event(ev("waited", 0, "accepted", peer="g1"))
    t.on_event(ev("waited", 1, "done", result=done("waited")))
    t.finished("waited", done("waited"))
    t.rejected("turned-away", "every gateway busy until the client's deadline")
    t.failed("broke", "no gateway could run the job: NsEVzpV2: cannot open /hivemesh/job/1 to 12D3KooWB1Egf2xw")
    assert not t.jobs["waited"].duplicated  # busy answers are not job events
    counts = _job_counts(t, {})
    assert (counts["completed"], counts["failed"], counts["rejected"], counts["lost"]) == (1, 1, 1, 0)
    assert counts["busy_answers"] == 4
    assert _reason(t.jobs["broke"].error) == "no gateway could run the job: <gateway>: cannot open /hivemesh/job/1 to <peer>"


def test_the_steady_rate_counts_what_completed_while_jobs_arrived_not_the_tail():
    from hivemesh.simulations.report import steady_rate

    arrived = [i / 10 for i in range(101)]  # 10 jobs/s for 10 s
    kept_up = [t + 0.5 for t in arrived]  # each done 0.5 s later: the whole-run figure reads 10/10.5
    assert steady_rate(arrived, kept_up) == pytest.approx(10, abs=0.2)
    overloaded = [i / 4 for i in range(100)]  # 4/s done, one after another, for 25 s: a drain past the arrivals
    assert steady_rate(arrived, overloaded) == pytest.approx(4, abs=0.2)
    stalled = [t + 0.5 for t in arrived[:15]]  # nothing done after the first 2 s
    assert steady_rate(arrived, stalled) == 0
    assert steady_rate([1.0], [2.0]) is None and steady_rate([], []) is None


def test_keeping_up_is_judged_against_the_arrivals_of_the_same_window():
    """Random arrivals stray from the nominal rate over a short run: a run whose
    window held fewer arrivals kept up with what it was offered, not with the nominal rate."""
    from bench.gateway import kept_up
    from hivemesh.simulations.report import steady_offered, steady_rate

    arrived = [i * 0.6 for i in range(17)]  # "2/s" nominal, 1.67/s as it came
    done = [t + 0.05 for t in arrived]
    rate, offered = steady_rate(arrived, done), steady_offered(arrived)
    assert offered == pytest.approx(1.67, abs=0.1) and rate == pytest.approx(offered, abs=0.15)
    row = {"failed": 0, "lost": 0, "completed": 17, "submitted": 17, "offered_jobs_s": 2.0,
           "steady_jobs_s": rate, "steady_offered_jobs_s": offered}
    assert kept_up(row)
    assert not kept_up({**row, "steady_jobs_s": 0.5 * offered})  # half of what came: not kept up
    assert not kept_up({**row, "lost": 1})
    assert steady_offered([1.0]) is None


def test_the_store_audit_finds_a_job_finished_twice():
    store = MemoryStore()
    for job, kinds in {"ok": ["accepted", "done"], "twice": ["accepted", "done", "done"], "open": ["accepted"]}.items():
        for i, kind in enumerate(kinds):
            result = done(job) if kind == "done" else None  # an end always carries its result
            store.append_event(job, wire.encode(ev(job, i, kind, result=result)))
    audit = audit_store(store, ["ok", "twice", "open"])
    assert audit == {"checked": 3, "jobs_finished_twice": ["twice"], "without_terminal_event": 1}


# --- streams, flags, files --------------------------------------------------------------


async def test_a_slow_peer_delays_each_frame_it_writes(autojump_clock):
    class Stream:
        written = []

        async def write(self, data):
            self.written.append((trio.current_time(), data))

        async def read(self, n):
            return b"x"

    inner = Stream()
    slow = EdgeStream(inner, delay_s=0.25)  # what ``netdelay`` sets on a slow peer's streams
    start = trio.current_time()
    await slow.write(b"a")
    await slow.write(b"b")
    assert [round(t - start, 2) for t, _ in inner.written] == [0.25, 0.5]
    assert await slow.read(1) == b"x"  # reads pass straight through


def parse(*argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_become_settings():
    args = parse("--scenario", "kill-workers", "--peers", "12", "--gateways", "3", "--rate", "4",
                 "--duration", "30", "--kill-at", "2,5.5", "--processes", "--redis", "--slow-fraction", "0.25",
                 "--model-tps", "lognormal:50,0.3", "--out", "somewhere", "--json")
    s = command.settings_from(args)
    assert (s.scenario, s.peers, s.gateways, s.rate, s.duration) == ("kill-workers", 12, 3, 4.0, 30.0)
    assert s.kill_at == (2.0, 5.5) and s.processes and s.redis and s.slow_latency == "fixed:100ms"
    assert str(s.out) == "somewhere" and args.json
    assert resolve(s).jobs == 120
    with pytest.raises(ConfigError, match="--kill-at"):
        command.settings_from(parse("--kill-at", "soon"))


async def test_model_only_runs_the_gossip_model_with_the_real_election(tmp_path):
    report = await command.run(parse("--model-only", "--peers", "300", "--origins", "2", "--out", str(tmp_path)))
    assert report["mode"].startswith("model-only") and report["peers"] == 300
    assert report["election_agreement"]["elect"] == "hivemesh.gateway.election.elect"
    assert json.loads((tmp_path / "model-only.json").read_text())["peers"] == 300
    assert "convergence" in command.format_report(report)


def test_without_matplotlib_the_plots_are_skipped_with_a_note(tmp_path, monkeypatch):
    from hivemesh.simulations.harness import write_files

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    t = Tracker(Clock())
    t.job(0, "j")
    report = {"scenario": "steady", "peers": 8, "mode": "in-process", "per_peer": []}
    write_files(SimSettings(out=tmp_path), report, t)
    assert "matplotlib is not installed" in report["plots_skipped"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv", "report.json"]
    assert json.loads((tmp_path / "report.json").read_text())["plots_skipped"] == report["plots_skipped"]


def test_peer_processes_share_the_machines_cores_for_adverts(monkeypatch):
    """On 2 cores a small mesh adverts at hivemesh's pace; 100 peer processes
    take 1 advert/s each from the mesh (one advert per peer every ~100 s)."""
    from hivemesh.mesh import cadence
    from hivemesh.simulations import settings as sim_settings

    monkeypatch.setattr(sim_settings.os, "cpu_count", lambda: 2)
    small = sim_settings.resolve(SimSettings(peers=8, processes=True))
    assert small.advert_budget == cadence.DEFAULT_BUDGET and small.advert_period == 2.0
    large = sim_settings.resolve(SimSettings(peers=100, processes=True))
    assert 0.9 < large.advert_budget < 1.1 and 90 < large.advert_period < 110
    assert sim_settings.resolve(SimSettings(peers=100, processes=True, advert_budget=5.0)).advert_budget == 5.0
