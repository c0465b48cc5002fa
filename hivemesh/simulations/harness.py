"""One real-peer simulation run, start to report.

Start a throwaway Redis when the run needs one, the peers (in-process or as
processes), the clients; wait for the mesh to form; submit the scheduled jobs
and strike the scheduled faults while sampling; stop everything; audit the
store; build the report and write it (JSON, CSV of jobs, PNG plots) under
``settings.out``.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from hivemesh.gateway.store import JobStore, MemoryBackend, MemoryStore
from hivemesh.simulations.audit import audit_store
from hivemesh.simulations.cpuroles import CpuMark
from hivemesh.simulations.driver import Driver
from hivemesh.simulations.fleet import Fleet
from hivemesh.simulations.inproc import InProcessCluster
from hivemesh.simulations.liars import verification, wrong_answers
from hivemesh.simulations.peers import Cluster
from hivemesh.simulations.procs import ProcessCluster
from hivemesh.simulations.redis_proc import throwaway_redis
from hivemesh.simulations.report import build_report
from hivemesh.simulations.sampler import Sampler, Samples
from hivemesh.simulations.schedule import build_schedule
from hivemesh.simulations.settings import SimSettings, resolve
from hivemesh.simulations.tracker import Tracker
from hivemesh.simulations.workload import capability_count, chain_plan

log = logging.getLogger(__name__)


@dataclass
class Stores:
    """Gateways' stores: all on one in-process backend, or all on one Redis."""

    redis_url: str | None
    backend: MemoryBackend

    def make(self) -> JobStore:
        if self.redis_url is None:
            return MemoryStore(backend=self.backend)
        from hivemesh.gateway.store import RedisStore

        return RedisStore.from_url(self.redis_url)


async def run_simulation(settings: SimSettings) -> dict[str, Any]:
    """Run ``settings`` (resolved here) and return the report; files go to ``settings.out``."""
    s = resolve(settings)
    with ExitStack() as stack:
        redis_url = stack.enter_context(throwaway_redis()) if s.store == "redis" else None
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hivemesh-sim-")))
        stores = Stores(redis_url, MemoryBackend())
        report, tracker = await _run(s, stores, workdir)
        if s.out is not None:
            write_files(s, report, tracker)
    return report


async def _run(s: SimSettings, stores: Stores, workdir: Path) -> tuple[dict[str, Any], Tracker]:
    schedule = build_schedule(s)
    ncaps = capability_count(s.stages, s.workers)
    tracker, samples = Tracker(), Samples()
    origin = end = time.monotonic()
    async with trio.open_nursery() as nursery:
        cluster = _cluster(nursery, s, stores, workdir, ncaps)
        fleet = Fleet(cluster, s, ncaps)
        try:
            await fleet.start()
            sampler = Sampler(fleet, time.monotonic())
            samples = sampler.samples
            nursery.start_soon(sampler.run)
            if s.idle > 0:
                await sampler.measure_idle(s.idle)
            origin = time.monotonic()
            shift = origin - sampler.origin  # earlier samples: seconds before the first job (negative)
            samples.view_missing[:] = [(t - shift, m) for t, m in samples.view_missing]
            sampler.origin = origin
            mark = CpuMark(_pids(fleet))
            await Driver(fleet, tracker, s).run(schedule)
            end = time.monotonic()
            samples.job_cpu_s = mark.spent(_pids(fleet))
            sampler.sample()
        finally:
            with trio.CancelScope(shield=True):
                await cluster.aclose()
    fleet.refresh_all()
    audit = await trio.to_thread.run_sync(audit_store, stores.make(), list(tracker.jobs))
    report = build_report(s, fleet, tracker, samples, audit, cluster.mode, origin, end)
    if s.scenario == "liars":
        assert isinstance(cluster, InProcessCluster)
        completed = [j.job_id for j in tracker.jobs.values() if j.outcome == "completed"]
        wrong = await trio.to_thread.run_sync(wrong_answers, stores.make(), completed, cluster.lies)
        report["verification"] = verification(fleet, cluster.lies, wrong, len(completed))
    return report, tracker


def _pids(fleet: Fleet) -> dict[int, str]:
    return {p.pid: p.role for p in fleet.peers if p.pid is not None}


def _cluster(nursery: trio.Nursery, s: SimSettings, stores: Stores, workdir: Path, ncaps: int) -> Cluster:
    if s.processes:
        assert stores.redis_url is not None
        logs = (s.out / "peer-logs") if s.out is not None else workdir / "logs"
        return ProcessCluster(nursery, s, stores.redis_url, workdir, logs, ncaps)
    return InProcessCluster(nursery, s, stores.make, chain_plan(s.stages, ncaps))


def write_files(s: SimSettings, report: dict[str, Any], tracker: Tracker) -> None:
    """report.json, jobs.csv and the plots under ``s.out``; notes what was written in ``report``."""
    assert s.out is not None
    s.out.mkdir(parents=True, exist_ok=True)
    files = [s.out / "report.json", s.out / "jobs.csv"]
    _jobs_csv(files[1], tracker)
    if s.plots:
        files += _plots(s, report, tracker)
    report["files"] = [str(f) for f in files]
    files[0].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def _plots(s: SimSettings, report: dict[str, Any], tracker: Tracker) -> list[Path]:
    from hivemesh.simulations.plots import PlotsUnavailable, write_plots

    assert s.out is not None
    title = f"{report['scenario']}, {report['peers']} peers, {report['mode']}"
    try:
        return write_plots(s.out, list(tracker.jobs.values()), tracker.faults, report["per_peer"], title)
    except PlotsUnavailable as exc:
        report["plots_skipped"] = str(exc)
        log.warning("%s", exc)
        return []


def _jobs_csv(path: Path, tracker: Tracker) -> None:
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["index", "job_id", "submitted_at_s", "finished_at_s", "latency_s", "outcome",
                      "gateway", "events", "duplicated", "error"])
        for j in sorted(tracker.jobs.values(), key=lambda j: j.index):
            out.writerow([j.index, j.job_id, _f(j.submitted_at), _f(j.finished_at), _f(j.latency_s), j.outcome,
                          j.gateway, j.events, int(j.duplicated), j.error])


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
