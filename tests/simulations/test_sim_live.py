"""Every scenario on real peers, small: 8 peers (6 workers, 2 gateways), 20
three-stage jobs, real py-libp2p on loopback. Nothing may be lost or answered
twice, whatever the faults."""

import json

import pytest

from hivemesh.simulations.command import format_report
from hivemesh.simulations.harness import run_simulation
from hivemesh.simulations.settings import SimSettings

# adverts every 2 s (hivemesh's default): in one process, ten py-libp2p nodes
# advertising every 0.5 s already take a whole core and their views flap
SMALL = dict(peers=8, gateways=2, jobs=20, rate=2.0, stages=3, seed=1, advert_interval=2.0)
PROCESSES = {**SMALL, "advert_interval": 1.0, "processes": True}


def assert_nothing_lost(report, jobs=20, failures_allowed=False):
    """Every job got exactly one answer; without faults, every answer is a success.
    Under faults a job may fail (a subtask whose peers keep dying runs out of
    attempts), but it must still end, once."""
    counts = report["jobs"]
    assert counts["submitted"] == jobs
    assert counts["lost"] == 0 and counts["duplicated"] == 0, counts
    assert counts["completed"] + counts["failed"] == jobs, counts
    if not failures_allowed:
        assert counts["completed"] == jobs, (counts, report["failures"])
    assert counts["completed"] >= jobs // 2, (counts, report["failures"])
    assert report["store_audit"]["checked"] == jobs and not report["store_audit"]["jobs_finished_twice"]
    assert report["mesh"]["formed"]
    lat = report["latency_s"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert report["throughput_jobs_s"] > 0


async def test_steady_in_process_writes_its_files(tmp_path):
    report = await run_simulation(SimSettings(scenario="steady", out=tmp_path, **SMALL))
    assert_nothing_lost(report)
    assert report["mode"] == "in-process" and report["store"] == "memory"
    assert report["recovery_s"]["faults"] == 0
    assert report["gossip_per_peer"]["msgs_in_s"] > 0 and report["resources_per_peer"]["rss_mb"]["mean"] > 0
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["jobs"] == report["jobs"]
    assert len((tmp_path / "jobs.csv").read_text().splitlines()) == 21
    plots = {"latency.png", "throughput.png", "peer_load.png"}
    assert plots <= {p.name for p in tmp_path.iterdir()} or "matplotlib" in report["plots_skipped"]
    # every stage ran: 20 jobs x 3 stages, spread over the workers
    assert sum(p["subtasks_finished"] for p in report["per_peer"]) == 60
    assert {"scenario", "peers", "jobs", "latency_s", "throughput_jobs_s", "recovery_s"} <= set(report)
    assert report["recovery_s"]["max"] is None  # nothing to recover from
    assert report["gossip_per_peer"]["rpcs_out_s"] > report["gossip_per_peer"]["msgs_out_s"] > 0
    table = format_report(report)
    assert "submitted 20, completed 20, failed 0, lost 0, duplicated 0" in table and "jobs/s" in table
    harness = report["harness"]  # the harness measured itself; its table says first when it was saturated
    assert 0 < harness["cpu_fraction"] and harness["loop_lag_p99_s"] is not None
    assert table.startswith("WARNING: the harness was saturated") == harness["saturated"]


async def test_a_slow_job_is_not_lost_and_one_that_cannot_end_by_the_drain_fails_at_its_deadline():
    """A job slower than ``job_timeout`` is not lost: the run drains until
    ``job_timeout`` after the last arrival. Job 0 takes ~3 s, over the 2 s
    timeout, and completes; job 1 arrives at 4 s and cannot end by 6 s: its
    deadline (the drain's end, less the time its end takes to reach the
    client) ends it failed, with its reason, instead of lost (before jobs
    carried deadlines, it was lost)."""
    report = await run_simulation(SimSettings(scenario="steady", peers=3, gateways=1, jobs=2, rate=0.25, stages=1,
                                              model_latency="fixed:3s", job_timeout=2.0, advert_interval=1.0,
                                              idle=2.0, plots=False))
    assert report["jobs"]["completed"] == 1 and report["jobs"]["failed"] == 1 and report["jobs"]["lost"] == 0
    assert report["failures"] == {"deadline: the job had not ended by its client's deadline": 1}
    assert report["latency_s"]["max"] > 2.0
    idle = report["idle_per_peer"]  # --idle: the formed mesh idled first, and what it cost was measured
    assert idle["seconds"] >= 2.0 and idle["cpu_percent"]["mean"] > 0 and idle["rss_mb"]["mean"] > 20
    assert "in-process" in idle["how"]


async def test_burst_in_process_with_slow_peers():
    report = await run_simulation(SimSettings(scenario="burst", burst_size=10, burst_every=2.0, slow_fraction=0.34,
                                              slow_latency="fixed:50ms", **{**SMALL, "rate": None}))
    assert_nothing_lost(report)
    slow = [p for p in report["per_peer"] if p["added_latency_s"]]
    assert len(slow) == 2 and all(p["added_latency_s"] == 0.05 for p in slow)


async def test_churn_in_process_on_redis():
    report = await run_simulation(SimSettings(scenario="churn", churn_rate=1.0, redis=True, **SMALL))
    assert_nothing_lost(report)
    assert report["store"] == "redis"
    assert report["recovery_s"]["faults"] >= 2
    assert {f["kind"] for f in report["faults"]} == {"leave"}
    assert report["recovery_s"]["unrecovered"] == 0


async def test_kill_workers_in_process():
    report = await run_simulation(SimSettings(scenario="kill-workers", kills=3, **SMALL))
    assert_nothing_lost(report, failures_allowed=True)
    rec = report["recovery_s"]
    assert rec["faults"] == 3 and rec["unrecovered"] == 0
    assert rec["count"] >= 1 and rec["max"] < 10.0  # busy workers were killed; their stages ran elsewhere
    assert len([p for p in report["per_peer"] if p["stopped"] == "killed"]) == 3


# slower stages keep more jobs in flight on each gateway when it dies
GATEWAY_KILL = dict(scenario="kill-gateway", kill_at=(4.0,), model_latency="fixed:500ms")


async def test_kill_gateway_in_process():
    report = await run_simulation(SimSettings(**GATEWAY_KILL, **SMALL))
    assert_nothing_lost(report)
    rec = report["recovery_s"]
    assert rec["faults"] == 1 and rec["unrecovered"] == 0 and rec["count"] >= 1
    # the dead gateway's leases lapse (8 s) before another gateway resumes its jobs
    assert 5.0 < rec["max"] < 20.0


@pytest.mark.slow
async def test_kill_workers_as_processes():
    report = await run_simulation(SimSettings(scenario="kill-workers", kills=3, **PROCESSES))
    assert_nothing_lost(report, failures_allowed=True)
    assert report["mode"] == "processes" and report["store"] == "redis"
    assert report["recovery_s"]["faults"] == 3 and report["recovery_s"]["unrecovered"] == 0
    usage = report["resources_per_peer"]
    assert usage["cpu_percent"]["mean"] > 0 and usage["rss_mb"]["mean"] > 20  # measured per process
    assert "per peer process" in usage["how"]


@pytest.mark.slow
async def test_kill_gateway_as_processes():
    report = await run_simulation(SimSettings(**GATEWAY_KILL, **PROCESSES))
    assert_nothing_lost(report)
    rec = report["recovery_s"]
    assert rec["faults"] == 1 and rec["unrecovered"] == 0 and 5.0 < rec["max"] < 20.0


async def test_slowly_dying_workers_in_process():
    """Killed workers keep working while their connections close one by one
    (a dying machine). Their jobs must end, once, and a dying worker must not
    take the jobs it is given down with it (it used to be chosen again and
    again, until its subtasks ran out of strikes)."""
    report = await run_simulation(SimSettings(scenario="kill-workers", kills=8, slow_death=4.0, **SMALL))
    assert_nothing_lost(report)
    rec = report["recovery_s"]
    assert rec["faults"] == 8 and rec["unrecovered"] == 0
