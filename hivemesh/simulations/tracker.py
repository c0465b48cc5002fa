"""What the clients saw: every job's events, outcome, and each fault's repair.

``Tracker`` is fed job events (through ``on_event``) and faults (``fault``)
as they happen, on the harness clock (seconds since the first job). It keeps
which subtasks each peer holds, so a kill knows what it interrupted, and
times each interrupted subtask until it is started on another peer (worker
faults) or each interrupted job until another gateway resumes it (gateway
faults). Pure bookkeeping: no I/O.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hivemesh.gateway.jobwire import JobEvent, JobResult

Key = tuple[str, str]  # (job id, subtask id); subtask id "" for a whole job


@dataclass
class JobTrace:
    index: int
    job_id: str
    submitted_at: float | None = None
    finished_at: float | None = None
    outcome: str = "pending"  # pending | completed | failed | rejected (every gateway busy) | lost
    error: str = ""
    gateway: str = ""
    events: int = 0
    terminal_events: int = 0
    repeated_events: int = 0
    results: int = 0  # answers handed to the client
    busy: int = 0  # busy answers from gateways (not job events: counted apart)
    seen: set[int] = field(default_factory=set)

    @property
    def latency_s(self) -> float | None:
        if self.submitted_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.submitted_at

    @property
    def duplicated(self) -> bool:
        return self.terminal_events > 1 or self.repeated_events > 0 or self.results > 1


@dataclass
class FaultTrace:
    at: float
    kind: str  # kill-worker | kill-gateway | leave
    target: str  # the harness's name for the peer (w3, g1.2, ...)
    peer_id: str
    affected: set[Key] = field(default_factory=set)
    recovered: dict[Key, float] = field(default_factory=dict)  # key -> seconds after the fault
    settled: set[Key] = field(default_factory=set)  # finished by the victim before it died, or job ended

    @property
    def unrecovered(self) -> int:
        return len(self.affected - set(self.recovered) - self.settled)


class Tracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.t0 = clock()
        self.jobs: dict[str, JobTrace] = {}
        self.faults: list[FaultTrace] = []
        self.holding: dict[str, set[Key]] = {}  # peer id -> subtasks placed there, not finished
        self.placed: dict[Key, str] = {}  # subtask -> the peer holding it
        self.job_gateway: dict[str, str] = {}
        self.finished_by: Counter[str] = Counter()  # peer id -> subtasks finished
        self._open: dict[Key, list[FaultTrace]] = {}  # interrupted, awaiting a restart
        self.skipped_faults = 0  # scheduled faults that found no live target

    def now(self) -> float:
        return self._clock() - self.t0

    def restart_clock(self) -> None:
        self.t0 = self._clock()

    # --- jobs ---------------------------------------------------------------------

    def job(self, index: int, job_id: str) -> JobTrace:
        return self.jobs.setdefault(job_id, JobTrace(index, job_id))

    def submitted(self, job_id: str) -> None:
        self.jobs[job_id].submitted_at = self.now()

    def on_event(self, event: JobEvent) -> None:
        trace, now = self.jobs.get(event.job_id), self.now()
        if trace is None:
            return
        if event.kind == "busy":  # a gateway did not take the job (peer_id set), or the client waits
            trace.busy += bool(event.peer_id)
            return
        trace.events += 1
        if event.index in trace.seen:
            trace.repeated_events += 1
        trace.seen.add(event.index)
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event, now)
        if event.terminal:
            trace.terminal_events += 1
            self._job_ended(event.job_id)

    def finished(self, job_id: str, result: JobResult) -> None:
        trace = self.jobs[job_id]
        trace.results += result.status == "done"
        trace.finished_at = self.now()
        trace.outcome = "completed" if result.status == "done" else "failed"
        trace.error = result.error
        trace.gateway = result.gateway

    def failed(self, job_id: str, reason: str) -> None:
        trace = self.jobs[job_id]
        trace.finished_at, trace.outcome, trace.error = self.now(), "failed", reason

    def rejected(self, job_id: str, reason: str) -> None:
        """Every gateway stayed busy until the client's deadline: not a failure."""
        trace = self.jobs[job_id]
        trace.finished_at, trace.outcome, trace.error = self.now(), "rejected", reason

    def lost(self, job_id: str) -> None:
        self.jobs[job_id].outcome = "lost"

    # --- events -------------------------------------------------------------------

    def _started(self, event: JobEvent, now: float) -> None:
        key = (event.job_id, event.subtask_id)
        old = self.placed.get(key)
        if old is not None:
            self.holding.get(old, set()).discard(key)
        self.placed[key] = event.peer_id
        self.holding.setdefault(event.peer_id, set()).add(key)
        for fault in self._open.pop(key, []):
            if event.peer_id != fault.peer_id:
                fault.recovered[key] = now - fault.at
            else:
                self._open.setdefault(key, []).append(fault)

    def _subtask_finished(self, event: JobEvent, now: float) -> None:
        key = (event.job_id, event.subtask_id)
        peer = self.placed.pop(key, event.peer_id)
        self.holding.get(peer, set()).discard(key)
        self.finished_by[event.peer_id] += 1
        for fault in self._open.pop(key, []):
            fault.settled.add(key)  # it finished (its report was on its way) before the fault

    def _gateway_event(self, event: JobEvent, now: float) -> None:
        self.job_gateway[event.job_id] = event.peer_id
        key = (event.job_id, "")
        for fault in self._open.pop(key, []):
            if event.peer_id != fault.peer_id:
                fault.recovered[key] = now - fault.at
            else:
                self._open.setdefault(key, []).append(fault)

    def _job_ended(self, job_id: str) -> None:
        for key in [k for k in self._open if k[0] == job_id]:
            for fault in self._open.pop(key):
                fault.settled.add(key)
        for key in [k for k in self.placed if k[0] == job_id]:
            self.holding.get(self.placed.pop(key), set()).discard(key)

    # --- faults -------------------------------------------------------------------

    def busy_peers(self) -> list[str]:
        return sorted(p for p, keys in self.holding.items() if keys)

    def fault(self, kind: str, target: str, peer_id: str) -> FaultTrace:
        """Record a fault now; what the peer held is what it interrupted."""
        trace = FaultTrace(self.now(), kind, target, peer_id)
        if kind == "kill-gateway":
            trace.affected = {(j, "") for j, g in self.job_gateway.items()
                              if g == peer_id and self.jobs[j].terminal_events == 0}
        else:
            trace.affected = set(self.holding.get(peer_id, ()))
        for key in trace.affected:
            self._open.setdefault(key, []).append(trace)
        self.faults.append(trace)
        return trace


_HANDLERS: dict[str, Callable[[Tracker, JobEvent, float], None]] = {
    "subtask_started": Tracker._started,
    "subtask_finished": Tracker._subtask_finished,
    "accepted": Tracker._gateway_event,
    "resumed": Tracker._gateway_event,
}
