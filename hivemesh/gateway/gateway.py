"""The gateway role: take jobs on ``/hivemesh/job/1``, run them, stream progress.

A gateway is a peer that was started gateway-eligible with a reachable store.
It advertises the "gateway" role only while its store answers; when the store
is lost it stops advertising, refuses new jobs with a clear reason, and keeps
serving everything else.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from typing import Any

import trio

from hivemesh.errors import GatewayBusy, HivemeshError, StreamBroken, first_error
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream
from hivemesh.gateway import lease, livejob
from hivemesh.gateway.admission import Gate
from hivemesh.gateway.checking import CheckDesk
from hivemesh.gateway.conductor import Conductor
from hivemesh.gateway.health import PeerHealth
from hivemesh.gateway.looplag import LoopLag
from hivemesh.gateway.jobrun import JobMoved, JobRun, JobSettings, blocking, record_end
from hivemesh.gateway.livejob import LiveJob
from hivemesh.gateway.jobwire import PROTOCOL, JobEvent, JobRecord, JobResult, JobSubmit, StoredPlan, SubtaskRecord
from hivemesh.gateway.store import JobStore
from hivemesh.planner.base import Planner
from hivemesh.planner.plan import Plan

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0


class Gateway:
    def __init__(self, node: MeshNode, store: JobStore, planner: Planner,
                 settings: JobSettings | None = None) -> None:
        self.node, self.store, self.planner = node, store, planner
        self.settings = settings or JobSettings()
        self.available = True
        self.live: dict[str, LiveJob] = {}
        self._nursery: trio.Nursery | None = None
        self.stats: Counter[str] = Counter()
        self.health = PeerHealth()  # stages that broke on each peer lately, across this gateway's jobs
        self.gate = Gate(self.settings.max_jobs)  # new jobs past its limit are answered busy
        self.lag = LoopLag()  # this gateway's own slowness: its leases and stage timeouts allow for it
        self.checks = CheckDesk(self.settings.trust) if self.settings.trust is not None else None
        if self.checks is not None:
            self.checks.share(store, node)  # the trust record the gateways share
        self.conductors: dict[str, Conductor] = {}  # the pipelines of the jobs running here (placement's load)
        self.on_job_end: Callable[[str, float], None] = lambda status, seconds: None  # metrics

    @asynccontextmanager
    async def run(self) -> AsyncIterator[Gateway]:
        """Serve jobs; job runs belong to this context, not to client streams."""
        self.node.handle(PROTOCOL, self.handle_stream)
        self._set_role(True)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.lag.run)
            nursery.start_soon(self._health_loop)
            nursery.start_soon(self._scan_loop)
            if self.checks is not None and self.checks.shared is not None:
                nursery.start_soon(self.checks.shared.run)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    # --- store health -------------------------------------------------------------

    async def _health_loop(self) -> None:
        while True:
            try:
                await blocking(self.store.ping)
                ok = True
            except HivemeshError as exc:
                ok = False
                reason = str(exc)
            if ok != self.available:
                self.available = ok
                self._set_role(ok)
                if ok:
                    log.info("gateway store reachable again; accepting jobs")
                else:
                    log.warning("gateway store lost (%s); not accepting jobs", reason)
            await trio.sleep(self.node.config.advert_interval)

    def _set_role(self, eligible: bool) -> None:
        roles = tuple(r for r in self.node.roles if r != "gateway")
        self.node.roles = roles + ("gateway",) if eligible else roles

    # --- the protocol -------------------------------------------------------------

    async def handle_stream(self, stream: Stream) -> None:
        submit = await stream.request(JobSubmit, READ_TIMEOUT_S, self.node.penalize,
                                      lambda why: self._refusal("", f"bad job submission: {why}"))
        if submit is None:
            return
        try:
            await self.open_job(submit)
        except HivemeshError as exc:
            try:
                await stream.send(self._refusal(submit.job_id, str(exc),
                                                  exc if isinstance(exc, GatewayBusy) else None))
            except StreamBroken:
                log.debug("could not tell the client of job %s: it is gone", submit.job_id)
            return
        if await self._stream_events(stream, submit.job_id, submit.from_event, submit.tokens):
            await stream.close()

    async def open_job(self, submit: JobSubmit, plan: Plan | None = None, planner: str = "") -> None:
        """Start ``submit``'s job here (or attach to it). ``plan``: run this
        plan instead of asking the planner (the HTTP API's direct model)."""
        if not self.available:
            raise HivemeshError("gateway store unavailable; try another gateway")
        if not submit.attach_only and submit.job_id not in self.live:  # a new job: past the limit, busy
            busy = self.gate.check(submit.job_id, self.node.view, self.node.peer_id, submit.deadline_s)
            if busy is not None:
                self.stats["busy"] += 1
                raise GatewayBusy(busy.reason, busy.retry_after_s)
        try:
            await self._ensure_job(submit, plan, planner)
        except HivemeshError as exc:
            raise HivemeshError(f"gateway could not take the job: {exc}") from None

    async def _ensure_job(self, submit: JobSubmit, plan: Plan | None = None, planner: str = "") -> None:
        if submit.job_id in self.live:
            return
        now = time.time()
        record = JobRecord(job_id=submit.job_id, text=submit.text, inputs=submit.inputs,
                           aggregate=submit.aggregate, created=now, status="planning",
                           plan=StoredPlan.of(plan) if plan is not None else None, planner_model=planner,
                           deadline=now + submit.deadline_s if submit.deadline_s else 0.0)
        if not submit.attach_only:
            live = self._claim(submit.job_id)
            live.tokens = submit.tokens
            data, take, created = wire.encode(record), lease.taking(self.store, submit.job_id, self.node.peer_id,
                                                                    self.lag), [False]

            def create_and_take() -> bool:  # with the "accepted" event: one store trip
                created[0] = self.store.create_job_if_absent(submit.job_id, data)
                return created[0] and take()

            try:
                taken = await self.write(submit.job_id, events=[("accepted", {"peer_id": self.node.peer_id})],
                                         first=create_and_take)
            except BaseException:
                self._unclaim(submit.job_id, live)
                raise
            if created[0]:
                log.info("→ job accepted job=%s", submit.job_id)
                if taken is None:  # another gateway resumed it first: it runs the job
                    self._unclaim(submit.job_id, live)
                    return
                self._start(record, {})
                return
            self._unclaim(submit.job_id, live)
        if await blocking(self.store.get_job, submit.job_id) is None:
            raise HivemeshError(f"no job {submit.job_id}")
        await self._resume_if_orphaned(submit.job_id)

    def _claim(self, job_id: str) -> LiveJob:
        """Mark ``job_id`` as being taken here before the first ``await``: the
        scan loop (or a second submission) must not resume a job we are
        creating, or both would run it (seen: a new job's lease not yet taken
        looked orphaned, and the job ran twice on one gateway)."""
        live = self.live[job_id] = LiveJob()
        self.stats["jobs_peak"] = max(self.stats["jobs_peak"], self.gate.started(job_id))  # most run at once
        return live

    def _unclaim(self, job_id: str, live: LiveJob) -> None:
        if self.live.get(job_id) is live:
            self.live.pop(job_id)
            self.gate.ended(job_id)
        live.stopped = True  # clients that attached meanwhile go elsewhere
        live.wake()

    async def _take(self, job_id: str) -> bool:
        return await lease.take(self.store, job_id, self.node.peer_id, self.lag)

    async def _renew(self, job_id: str) -> bool:
        return await lease.renew(self.store, job_id, self.node.peer_id, self.lag)

    def _renewal(self, job_id: str) -> Callable[[], bool]:
        return lease.renewal(self.store, job_id, self.node.peer_id, self.lag)

    def _start(self, record: JobRecord, subtasks: dict[str, SubtaskRecord]) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._run_job, record, subtasks)

    async def _resume_if_orphaned(self, job_id: str) -> bool:
        """Take over a job whose gateway stopped renewing its lease."""
        if job_id in self.live or await blocking(self.store.lease_owner, job_id) is not None:
            return False
        raw = await blocking(self.store.get_job, job_id)
        if raw is None:
            return False
        record = wire.decode(JobRecord, raw)
        if record.status in ("done", "failed") or job_id in self.live:  # finished, or claimed here meanwhile
            return False
        live = self._claim(job_id)
        try:
            if not await self._take(job_id):
                self._unclaim(job_id, live)
                return False
            subtasks = {sid: wire.decode(SubtaskRecord, v)
                        for sid, v in (await blocking(self.store.get_subtasks, job_id)).items()}
            live.events = [wire.decode(JobEvent, e) for e in await blocking(self.store.events, job_id, 0)]
            ended = next((e for e in live.events if e.terminal), None)
            if ended is not None:  # its gateway told its end and died before saving its status
                await blocking(self._settle, job_id, replace(record, status=ended.kind))
                self._unclaim(job_id, live)
                return False
        except BaseException:
            self._unclaim(job_id, live)
            raise
        log.info("→ job resumed job=%s done=%d/%d", job_id,
                 sum(r.status == "done" for r in subtasks.values()), len(subtasks))
        self._start(record, subtasks)
        return True

    def _settle(self, job_id: str, record: JobRecord) -> None:
        """Blocking: save the status of a job whose end is already told, and
        let go of it (running it again would end it twice)."""
        record_end(self.store, job_id, wire.encode(record))
        self.store.release_lease(job_id, self.node.peer_id)
        log.info("job %s had ended (%s); its status saved, not run again", job_id, record.status)

    async def _scan_loop(self) -> None:
        """Resume active jobs nobody holds (their gateway died)."""
        while True:
            await trio.sleep(self.node.config.advert_interval)
            if not self.available:
                continue
            try:
                for job_id in await blocking(self.store.list_active_jobs):
                    await self._resume_if_orphaned(job_id)
            except HivemeshError as exc:
                log.debug("job scan failed: %s", exc)

    async def _run_job(self, record: JobRecord, subtasks: dict[str, SubtaskRecord]) -> None:
        run = JobRun(self.node, self.store, self.planner, record,
                     lambda kind, **kw: self.emit(record.job_id, kind, **kw), self.settings, subtasks, self.stats,
                     self.health, self.lag, self.checks, self.conductors)
        live = self.live.setdefault(record.job_id, LiveJob())
        if live.tokens and not record.aggregate:  # an aggregated job's answer is not the answer stage's text
            run.on_token = partial(self.token, record.job_id)
        run.write = partial(self.write, record.job_id)  # one store trip per pipeline step
        run.renewal = partial(self._renewal, record.job_id)  # asked before the job's end is told
        result: JobResult | None = None
        try:
            with live.scope:
                async with trio.open_nursery() as nursery:
                    def lost(reason: str) -> None:  # the pipeline stops itself; anything else is cancelled
                        if not run.lease_lost(reason):
                            nursery.cancel_scope.cancel()

                    nursery.start_soon(lease.hold, record.job_id, partial(self._renew, record.job_id), lost,
                                       lease.LEASE_TTL_S)  # read now: tests shorten it
                    if record.deadline:
                        nursery.start_soon(self._deadline, record)
                    result = await run.run()
                    nursery.cancel_scope.cancel()
            if live.cancelled and result is None:
                result = await self._end_cancelled(run, live.cancelled)
            if result is not None:
                log.info("← job %s job=%s seconds=%.2f", result.status, record.job_id, result.seconds)
                self.on_job_end(result.status, result.seconds)
        except (HivemeshError, BaseExceptionGroup) as exc:  # the store went away mid-job
            error = first_error(exc)
            if error is None:
                raise
            log.warning("job %s stopped here: %s", record.job_id, error)
        finally:
            self.gate.ended(record.job_id, result.seconds if result is not None else None)
            if result is None:  # another gateway holds the job now, or will: let its clients go there
                self._let_go(record.job_id)
            with trio.CancelScope(shield=True):
                try:
                    await blocking(self.store.release_lease, record.job_id, self.node.peer_id)
                except HivemeshError:
                    pass
            if self._nursery is not None:
                self._nursery.start_soon(self._forget, record.job_id)

    async def _deadline(self, record: JobRecord) -> None:
        """End the job ``failed`` when its client's deadline passes (on the
        wall clock: the record carries it to a gateway that resumes the job)."""
        await trio.sleep(max(0.0, record.deadline - time.time()))
        self.stats["deadline"] += 1
        self.cancel(record.job_id, "deadline: the job had not ended by its client's deadline")

    def cancel(self, job_id: str, reason: str) -> bool:
        """Stop a job this gateway runs (its stages are cancelled on their
        workers as their streams close); it ends ``failed`` with ``reason``."""
        live = self.live.get(job_id)
        if live is None or live.stopped or any(e.terminal for e in live.events[-1:]):
            return False
        live.cancelled = reason
        live.scope.cancel()
        return True

    async def _end_cancelled(self, run: JobRun, reason: str) -> JobResult:
        log.info("✗ job cancelled job=%s: %s", run.record.job_id, reason)
        result = run.result(None, "failed", reason)
        await self.emit(run.record.job_id, "failed", detail=reason, result=result)
        record = replace(run.record, status="failed")
        await blocking(self.store.put_job, record.job_id, wire.encode(record))
        await blocking(self.store.mark_job_done, record.job_id)
        return result

    def token(self, job_id: str, subtask_id: str, attempt: int, text: str) -> None:
        """Text the answer stage generated just now (from its worker's stage
        stream): handed to the attached clients, not stored."""
        live = self.live.get(job_id)
        if live is None:
            return
        if live.partial_of != (subtask_id, attempt):
            live.partial, live.partial_of = "", (subtask_id, attempt)
        live.partial += text
        live.wake()

    def _let_go(self, job_id: str) -> None:
        live = self.live.pop(job_id, None)
        if live is not None:
            live.stopped = True
            live.wake()

    async def _forget(self, job_id: str) -> None:
        live = self.live.get(job_id)
        await trio.sleep(60)  # late attachers read the events from the store after this
        if self.live.get(job_id) is live:
            self.live.pop(job_id, None)

    async def emit(self, job_id: str, kind: str, **fields: Any) -> JobEvent:
        """Store the job's next event, then hand it to the attached clients: a
        client never sees an event that a gateway resuming the job would not."""
        made = await self.write(job_id, events=[(kind, fields)])
        assert made is not None
        return made[0]

    async def write(self, job_id: str, subtasks: Sequence[tuple[str, bytes]] = (),
                    events: Sequence[tuple[str, dict[str, Any]]] = (),
                    first: Callable[[], bool] | None = None) -> list[JobEvent] | None:
        """One store trip for ``job_id`` (``livejob.write``)."""
        return await livejob.write(self.store, self.live.setdefault(job_id, LiveJob()), job_id, subtasks, events,
                                   first)

    async def _stream_events(self, stream: Stream, job_id: str, start: int, tokens: bool = False) -> bool:
        """Send the job's events from ``start`` until a terminal one (True), or
        until the job moves off this gateway (False: the stream is reset)."""
        try:
            async for batch in self.follow_batches(job_id, start, tokens=tokens):  # one write for what is ready
                await stream.write(b"".join(wire.frame(wire.encode(event)) for event in batch))
        except JobMoved:
            await stream.reset()  # not an end: the client re-attaches elsewhere
            return False
        return True

    async def follow(self, job_id: str, start: int = 0, *, tokens: bool = False,
                     stay: bool = False) -> AsyncIterator[JobEvent]:
        """The job's events from ``start`` up to a terminal one; with ``tokens``,
        also ``token`` events (``detail``: new answer text; ``index``: the next
        stored event's, since they are not stored) as the answer stage generates. When the
        job moves off this gateway: ``JobMoved``, or with ``stay`` its events
        go on from the store."""
        async for batch in self.follow_batches(job_id, start, tokens=tokens, stay=stay):
            for event in batch:
                yield event

    def follow_batches(self, job_id: str, start: int = 0, *, tokens: bool = False,
                       stay: bool = False) -> AsyncIterator[list[JobEvent]]:
        """``follow``'s events, as many at a time as are there (``livejob.follow_batches``)."""
        return livejob.follow_batches(self.store, self.live, job_id, start, tokens=tokens, stay=stay)

    def _refusal(self, job_id: str, reason: str, busy: GatewayBusy | None = None) -> JobEvent:
        """The one event a submission that was not taken gets: ``failed``, or
        ``busy`` (try again later). The guard closes the stream after it."""
        log.info("job %s job=%s: %s", "not taken" if busy else "refused", job_id or "?", reason)
        if busy is not None:
            return JobEvent(job_id=job_id, index=0, kind="busy", detail=reason, retry_after_s=busy.retry_after_s)
        result = JobResult(job_id=job_id, status="failed", answer="", error=reason, plan=None, subtasks=(),
                           accounting=None, gateway=self.node.peer_id, seconds=0.0)
        return JobEvent(job_id=job_id or "-", index=0, kind="failed", detail=reason, result=result)
