"""Admission control at a gateway: take a new job, or answer ``busy``. Pure.

A gateway takes a new job only while the jobs it runs stay under a limit;
past it, the submitter is told at once that the gateway is busy and when to
try again, instead of the job joining a queue that grows until deadlines and
leases expire (a collapse: issue 13 measured 148 of 400 jobs failed at twice
the saturation rate).

The limit is ``--max-jobs`` when set; otherwise it follows the capacity the
gateway sees in its view: a job's stages run one after another and wait for
their inputs without a slot, so a job holds at most about one worker slot at
a time. ``JOBS_PER_SLOT`` jobs per slot keep every slot fed (one running, one
in the worker's queue, whose default depth is one per slot) with no queue
beyond; the mesh's slots are shared by its gateways, so each takes its share.
``Backoff`` is the client's side: how long to wait when every gateway is busy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hivemesh.mesh.view import MeshView, PeerEntry

JOBS_PER_SLOT = 2
MIN_JOBS = 4  # a gateway whose view is still forming (or tiny) still takes some work
RETRY_MIN_S = 0.25
RETRY_MAX_S = 10.0
JOB_S_PRIOR = 2.0  # the typical job's seconds before any job has ended here
JOB_S_WEIGHT = 0.2  # of each finished job in the running mean


@dataclass(frozen=True)
class Busy:
    """The answer to a job this gateway does not take now."""

    reason: str
    retry_after_s: float


def worker_slots(entries: Iterable[PeerEntry]) -> int:
    """Slots the workers in a view offer (peers without models offer none)."""
    return sum(e.advert.capacity.slots_total for e in entries if e.advert.models)


def job_limit(slots: int, gateways: int, configured: int = 0) -> int:
    """Jobs one gateway runs at once: ``configured`` when set (> 0), else its
    share of ``JOBS_PER_SLOT`` jobs per worker slot, at least ``MIN_JOBS``."""
    if configured > 0:
        return configured
    return max(MIN_JOBS, math.ceil(JOBS_PER_SLOT * slots / max(1, gateways)))


def decide(inflight: int, limit: int, job_s: float, deadline_s: float = 0.0) -> Busy | None:
    """None: take the job. Else ``Busy`` with a retry-after: with ``limit``
    jobs of ``job_s`` seconds each, one ends every ``job_s / limit`` on average;
    the client waits for as many ends as it is over the limit.

    A job with a deadline (``deadline_s`` > 0) is not taken while this
    gateway's jobs take longer than that (``job_s``, a running mean, counts
    the waiting a busy machine adds; slots do not bound that on a slow or
    saturated one): it would end failed, or be left running for a client
    that has stopped waiting. With no job in flight here it is always taken
    (nothing ahead of it; the mean is stale)."""
    if inflight < limit and (deadline_s <= 0 or inflight == 0 or job_s <= deadline_s):
        return None
    if inflight < limit:
        retry = min(RETRY_MAX_S, max(RETRY_MIN_S, job_s / inflight))  # about when the next job here ends
        return Busy(f"gateway busy: its jobs take {job_s:.1f}s now, over this job's deadline of "
                    f"{deadline_s:.1f}s", round(retry, 3))
    retry = min(RETRY_MAX_S, max(RETRY_MIN_S, job_s / max(1, limit) * (inflight - limit + 1)))
    return Busy(f"gateway busy: {inflight} jobs in flight here (limit {limit})", round(retry, 3))


def next_job_s(mean: float | None, seconds: float) -> float:
    """The running mean of job seconds, with one more job of ``seconds``."""
    if mean is None:
        return seconds
    return (1 - JOB_S_WEIGHT) * mean + JOB_S_WEIGHT * seconds


@dataclass(frozen=True)
class Backoff:
    """How long a client waits after every elected gateway answered busy:
    exponential from the gateways' retry-after, capped, with full jitter (so
    that clients turned away together do not come back together)."""

    cap_s: float = 8.0
    factor: float = 2.0

    def delay(self, retry_after_s: float, rounds: int, draw: float) -> float:
        """``rounds``: all-busy rounds so far (1 for the first); ``draw``: uniform in [0, 1)."""
        base = max(RETRY_MIN_S, retry_after_s)
        top = max(base, min(self.cap_s, base * self.factor ** max(0, rounds - 1)))
        return base + max(top - base, base / 2) * draw  # never before the gateway's retry-after


class Gate:
    """A gateway's admission bookkeeping, no I/O: the jobs it runs now and
    how long its jobs have taken."""

    def __init__(self, configured: int = 0) -> None:
        self.configured = configured  # --max-jobs (0: from the view's capacity)
        self.running: set[str] = set()
        self.job_s: float | None = None

    def limit(self, view: MeshView, self_id: str) -> int:
        """From ``view`` as the gateway ``self_id`` sees it (its own entry is not in it)."""
        gateways = len({e.peer_id for e in view.gateway_eligible()} | {self_id})
        return job_limit(worker_slots(view.live()), gateways, self.configured)

    def check(self, job_id: str, view: MeshView, self_id: str, deadline_s: float = 0.0) -> Busy | None:
        """Take ``job_id`` (a new job, or one this gateway runs already; ``deadline_s``: see ``decide``)?"""
        if job_id in self.running:
            return None
        timed = self.job_s is not None  # before any job has ended here, nothing to hold a deadline against
        return decide(len(self.running), self.limit(view, self_id), self.job_s if timed else JOB_S_PRIOR,
                      deadline_s if timed else 0.0)

    def started(self, job_id: str) -> int:
        """Count ``job_id`` as running here; returns how many run now."""
        self.running.add(job_id)
        return len(self.running)

    def ended(self, job_id: str, seconds: float | None = None) -> None:
        self.running.discard(job_id)
        if seconds is not None:
            self.job_s = next_job_s(self.job_s, seconds)
