"""The report of a real-peer run: a JSON-able dict, and its table.

Built from what the clients saw (``Tracker``), the periodic samples, the
peers' own counters and the store audit. Per-peer CPU and memory are exact
for peer processes; for in-process peers they are this process's figures
divided by the number of peers, which the report says (``how``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
import psutil

from hivemesh.simulations.cpuroles import per_job_ms
from hivemesh.simulations.fleet import Fleet
from hivemesh.simulations.honesty import verdict
from hivemesh.simulations.peers import SimPeer
from hivemesh.simulations.sampler import Samples
from hivemesh.simulations.settings import SimSettings
from hivemesh.simulations.tracker import FaultTrace, Tracker

MB = 1024 * 1024


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if values else None


#: of the arrivals' span, the start left out of the steady rate (the mesh is still filling up)
STEADY_WARMUP = 0.2


def steady_window(arrived_at: list[float]) -> tuple[float, float] | None:
    """The span a steady rate is taken over: from ``STEADY_WARMUP`` of the
    arrivals' span to the last arrival (None for too few arrivals)."""
    if len(arrived_at) < 2:
        return None
    first, last = min(arrived_at), max(arrived_at)
    start = first + STEADY_WARMUP * (last - first)
    return (start, last) if last > start else None


def steady_rate(arrived_at: list[float], completed_at: list[float]) -> float | None:
    """Completions per second while jobs were still arriving, after a warm-up.

    ``throughput_jobs_s`` (completions over the time to the last one) counts
    the run's tail, so a short run that kept up reads low (the last jobs'
    latency is part of its span) and an overloaded one reads its drain; this
    is the rate the mesh held under its offered load: what it completed
    between ``STEADY_WARMUP`` of the arrivals' span and the last arrival,
    over that time."""
    return _per_s(completed_at, steady_window(arrived_at))


def steady_offered(arrived_at: list[float]) -> float | None:
    """Arrivals per second over ``steady_rate``'s window: what was offered in it.
    Arrivals are random (Poisson), so over a few seconds this strays from the
    nominal rate (20 arrivals at 2/s: by a fifth, often); whether a run kept up
    is ``steady_rate`` against this, not against the nominal rate."""
    return _per_s(arrived_at, steady_window(arrived_at))


def _per_s(times: list[float], window: tuple[float, float] | None) -> float | None:
    """How many of ``times`` fall in ``window``, per second of it."""
    if window is None:
        return None
    start, last = window
    return round(sum(1 for t in times if start <= t <= last) / (last - start), 3)


def build_report(s: SimSettings, fleet: Fleet, tracker: Tracker, samples: Samples, audit: dict[str, Any],
                 mode: str, origin: float, end: float) -> dict[str, Any]:
    """Everything a run measured; ``origin``/``end`` are monotonic times of the first job and the end."""
    jobs = list(tracker.jobs.values())
    latencies = [j.latency_s for j in jobs if j.outcome == "completed" and j.latency_s is not None]
    completed_at = [j.finished_at for j in jobs if j.outcome == "completed" and j.finished_at is not None]
    arrived_at = [j.submitted_at for j in jobs if j.submitted_at is not None]
    span = max(completed_at) if completed_at else 0.0
    lag = pct(samples.loop_lag_s, 99)
    report = {
        "harness": verdict(samples.harness_cpu_s, samples.harness_wall_s, lag, mode, samples.machine_busy,
                           psutil.cpu_count() or 1),
        "scenario": s.scenario, "mode": mode, "peers": s.peers, "workers": s.workers, "gateways": s.gateways,
        "stages": s.stages, "store": s.store, "seed": s.seed, "advert_interval_s": s.advert_interval,
        "adverts": _adverts(s, fleet.peers, end),
        "jobs": _job_counts(tracker, audit),
        "latency_s": {"p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
                      "max": pct(latencies, 100), "mean": round(float(np.mean(latencies)), 4) if latencies else None},
        "throughput_jobs_s": round(len(completed_at) / span, 3) if span > 0 else None,
        "steady_jobs_s": steady_rate(arrived_at, completed_at),
        "steady_offered_jobs_s": steady_offered(arrived_at),
        "offered_jobs_s": s.rate if s.scenario != "burst" else None,
        "wall_s": round(end - origin, 2),
        "recovery_s": recovery(tracker.faults),
        "faults": [_fault_row(f) for f in tracker.faults],
        "faults_skipped": tracker.skipped_faults,
        "gossip_per_peer": gossip_per_peer(fleet.peers, end),
        "resources_per_peer": resources(fleet, samples),
        # CPU by role over the jobs (first arrival to the drain's end), per completed job; in-process the
        # peers are in "harness"
        "cpu_s_by_role": {k: round(v, 3) for k, v in samples.job_cpu_s.items()},
        "cpu_ms_per_job": per_job_ms(samples.job_cpu_s, len(completed_at)),
        "idle_per_peer": idle_usage(fleet, samples),
        "mesh": _mesh(fleet, samples),
        "failures": dict(Counter(_reason(j.error) for j in jobs if j.outcome == "failed").most_common(10)),
        "refused_streams": dict(sum((p.stats.refused for p in fleet.peers), Counter())),
        # busy answers as the peers counted them: new jobs past a gateway's limit, stages a full worker refused
        "busy_answers": {"gateways": sum(p.stats.gateway["busy"] for p in fleet.peers),
                         "workers": sum(p.stats.worker["busy"] for p in fleet.peers),
                         "gateway_jobs_peak": max((p.stats.gateway["jobs_peak"] for p in fleet.peers), default=0)},
        "per_peer": [_peer_row(p, samples, end, tracker.finished_by[p.peer_id]) for p in fleet.peers],
        "store_audit": audit,
        "settings": _settings(s),
    }
    return report


def _adverts(s: SimSettings, peers: list[SimPeer], end: float) -> dict[str, Any]:
    """The advert cadence: as configured, as the mesh size implies, as measured."""
    assert s.advert_budget is not None
    seconds = sum(_alive_s(p, end) for p in peers)
    published = sum(p.stats.gossip["adverts_out"] for p in peers)
    return {"min_interval_s": s.advert_interval, "budget_per_peer_s": round(s.advert_budget, 3),
            "expected_period_s": round(s.advert_period, 3),
            "measured_period_s": round(seconds / published, 3) if published else None}


def _job_counts(tracker: Tracker, audit: dict[str, Any]) -> dict[str, int]:
    outcomes = Counter(j.outcome for j in tracker.jobs.values())
    twice = set(audit.get("jobs_finished_twice", ()))
    duplicated = sum(1 for j in tracker.jobs.values() if j.duplicated or j.job_id in twice)
    return {"submitted": sum(1 for j in tracker.jobs.values() if j.submitted_at is not None),
            "completed": outcomes["completed"], "failed": outcomes["failed"],
            "lost": outcomes["lost"] + outcomes["pending"], "duplicated": duplicated,
            # busy answers are counted apart: a job its client gave up on (every gateway busy until its
            # deadline) is rejected, not failed; busy_answers: every "busy" a gateway gave
            "rejected": outcomes["rejected"], "busy_answers": sum(j.busy for j in tracker.jobs.values())}


def recovery(faults: list[FaultTrace]) -> dict[str, Any]:
    """Time from each fault to the interrupted work running elsewhere."""
    out: dict[str, Any] = _recovery_stats([t for f in faults for t in f.recovered.values()])
    out["faults"] = len(faults)
    out["interrupted"] = sum(len(f.affected) for f in faults)
    out["unrecovered"] = sum(f.unrecovered for f in faults)
    out["by_kind"] = {kind: _recovery_stats([t for f in faults if f.kind == kind for t in f.recovered.values()])
                      for kind in sorted({f.kind for f in faults})}
    return out


def _recovery_stats(times: list[float]) -> dict[str, Any]:
    return {"count": len(times), "p50": pct(times, 50), "p95": pct(times, 95), "max": pct(times, 100)}


def _fault_row(f: FaultTrace) -> dict[str, Any]:
    return {"at_s": round(f.at, 3), "kind": f.kind, "target": f.target, "peer_id": f.peer_id,
            "interrupted": len(f.affected), "recovered": len(f.recovered), "unrecovered": f.unrecovered,
            "recovery_max_s": round(max(f.recovered.values()), 3) if f.recovered else None}


def _alive_s(p: SimPeer, end: float) -> float:
    return max(1e-9, (p.stopped_at or end) - p.started_at)


def gossip_per_peer(peers: list[SimPeer], end: float) -> dict[str, Any]:
    """Gossip per peer per second, pooled over every peer's lifetime."""
    seconds = sum(_alive_s(p, end) for p in peers)
    total = sum((p.stats.gossip for p in peers), Counter())

    def rate(key: str, digits: int = 2) -> float | None:
        return round(total[key] / seconds, digits) if seconds else None

    return {
        "msgs_in_s": rate("adverts_in"), "msgs_out_s": rate("adverts_out"),
        "bytes_in_s": rate("bytes_in", 0), "bytes_out_s": rate("bytes_out", 0),
        "rpcs_out_s": rate("rpcs_out"), "rpc_bytes_out_s": rate("rpc_bytes_out", 0),
        "copies_out_s": rate("publish_out"),
        "how": "msgs/bytes: distinct adverts each peer validated (in) and published (out); rpcs/rpc_bytes: "
               "every gossipsub RPC a peer wrote (forwarded advert copies, IHAVE/IWANT/GRAFT/PRUNE), the "
               "traffic on the wire (mean in = mean out across the mesh)",
    }


def resources(fleet: Fleet, samples: Samples) -> dict[str, Any]:
    if samples.per_peer:
        cpu = [float(np.mean(u.cpu_percent)) for u in samples.per_peer.values() if u.cpu_percent]
        rss = [float(np.mean(u.rss_bytes)) / MB for u in samples.per_peer.values() if u.rss_bytes]
        how = "psutil, per peer process, mean over the run"
    else:
        n = max(1, len([p for p in fleet.peers if p.alive]) + len(fleet.clients))
        cpu = [float(np.mean(samples.harness.cpu_percent)) / n] if samples.harness.cpu_percent else []
        rss = [float(np.mean(samples.harness.rss_bytes)) / MB / n] if samples.harness.rss_bytes else []
        how = (f"in-process: this process's CPU and RSS divided by its {n} mesh nodes (clients included); "
               "the harness's own work is in it")
    harness = samples.harness
    return {
        "cpu_percent": {"mean": _r(np.mean(cpu)) if cpu else None, "max": _r(max(cpu)) if cpu else None},
        "rss_mb": {"mean": _r(np.mean(rss)) if rss else None, "max": _r(max(rss)) if rss else None},
        "harness_cpu_percent": _r(np.mean(harness.cpu_percent)) if harness.cpu_percent else None,
        "how": how,
    }


def idle_usage(fleet: Fleet, samples: Samples) -> dict[str, Any] | None:
    """CPU (% of one core, from CPU time) and RSS of each peer over the idle phase (``--idle``)."""
    idle = samples.idle
    if idle is None:
        return None
    if idle.cpu_percent:
        cpu, rss = list(idle.cpu_percent.values()), [b / MB for b in idle.rss_bytes.values()]
        uss, pss = [b / MB for b in idle.uss_bytes.values()], [b / MB for b in idle.pss_bytes.values()]
        how = ("per peer process: CPU time over the idle phase; at its end RSS, USS (its own pages) and PSS "
               "(USS plus its share of the pages it shares with other processes)")
    else:
        n = max(1, len([p for p in fleet.peers if p.alive]) + len(fleet.clients))
        cpu, rss = [idle.harness_cpu_percent / n], [idle.harness_rss_bytes / MB / n]
        uss = pss = rss
        how = f"in-process: this process's CPU time and RSS divided by its {n} mesh nodes"
    return {"seconds": _r(idle.seconds), "peers": len(cpu),
            "cpu_percent": {"mean": _r(np.mean(cpu)), "p95": pct(cpu, 95), "max": _r(max(cpu))},
            "rss_mb": {"mean": _r(np.mean(rss)), "max": _r(max(rss))},
            "uss_mb": {"mean": _r(np.mean(uss)), "max": _r(max(uss))},
            "pss_mb": {"mean": _r(np.mean(pss)), "max": _r(max(pss))},
            "harness_cpu_percent": _r(idle.harness_cpu_percent), "how": how}


def _mesh(fleet: Fleet, samples: Samples) -> dict[str, Any]:
    missing = [m for _, m in samples.view_missing]
    lag = samples.loop_lag_s
    return {
        "formed": fleet.formed_in_s is not None,
        "formed_in_s": _r(fleet.formed_in_s) if fleet.formed_in_s is not None else None,
        "view_complete_fraction": round(sum(m == 0 for m in missing) / len(missing), 4) if missing else None,
        "view_missing_max": max(missing, default=0),
        "view_incomplete_spans_s": incomplete_spans(samples.view_missing),
        "harness_loop_lag_s": {"p99": pct(lag, 99), "max": pct(lag, 100)},
        "client_views": _client_views(fleet),
    }


def _client_views(fleet: Fleet) -> dict[str, Any]:
    """Why the clients' views lost peers: adverts a client refused, by reason, and
    peers that left its view because their adverts lapsed or a stream to them failed."""
    rejected: Counter[str] = Counter()
    left: Counter[str] = Counter()
    for client in fleet.clients:
        rejected.update(client.view.rejected)
        left.update({k: client.gossip_stats[k] for k in ("expired", "unreachable") if client.gossip_stats[k]})
    return {"adverts_rejected": dict(rejected), "peers_left": dict(left)}


def incomplete_spans(view_missing: list[tuple[float, int]], keep: int = 10) -> list[list[float]]:
    """The first ``keep`` runs of samples in which some client missed a live peer, as
    [from_s, to_s, most_missing] (seconds from the first job; the idle phase is negative)."""
    spans: list[list[float]] = []
    previous = 0
    for t, m in view_missing:
        if m and previous:
            spans[-1][1], spans[-1][2] = round(t, 1), max(spans[-1][2], m)
        elif m:
            spans.append([round(t, 1), round(t, 1), m])
        previous = m
    return spans[:keep]


def _peer_row(p: SimPeer, samples: Samples, end: float, finished: int) -> dict[str, Any]:
    usage = samples.per_peer.get(p.name)
    alive = _alive_s(p, end)
    g = p.stats.gossip
    return {
        "name": p.name, "role": p.role, "peer_id": p.peer_id, "stopped": p.stopped_how,
        "alive_s": round(alive, 2),
        "capability": p.model.capability if p.model else "",
        "model_latency_s": _r(p.model.latency_s) if p.model else None,
        "model_tps": _r(p.model.tokens_per_second) if p.model else None,
        "added_latency_s": _r(p.model.added_latency_s) if p.model else None,
        "subtasks_finished": finished,  # as the clients' events say
        "gossip_msgs_s": round((g["adverts_in"] + g["adverts_out"]) / alive, 2),
        "gossip_bytes_s": round((g["bytes_in"] + g["bytes_out"]) / alive),
        "cpu_percent": _r(np.mean(usage.cpu_percent)) if usage and usage.cpu_percent else None,
        "rss_mb": _r(np.mean(usage.rss_bytes) / MB) if usage and usage.rss_bytes else None,
    }


def _settings(s: SimSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(s).items():
        out[key] = str(value) if key == "out" and value is not None else (list(value) if isinstance(value, tuple) else value)
    return out


_GATEWAY = re.compile(r"(^|: |; )[1-9A-HJ-NP-Za-km-z]{8}: ")  # the client's "<gateway id tail>: why"
_PEER_ID = re.compile(r"\b12D3Koo[1-9A-HJ-NP-Za-km-z]+")


def _reason(error: str) -> str:
    """A failure's reason, peer ids left out so that the same cause is counted once."""
    line = _GATEWAY.sub(r"\1<gateway>: ", (error or "?").splitlines()[0])
    return _PEER_ID.sub("<peer>", line)[:160]


def _r(value: Any) -> float:
    value = float(value)
    return round(value, 3) if math.isfinite(value) else value
