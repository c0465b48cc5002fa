"""The gateway's side of a pipeline: place stages, watch them, repair them.

Every subtask that is not done has a live stage on one peer: a
``/hivemesh/stage/1`` stream that carries the assignment out and, at the end,
the signed report back. Outputs travel worker to worker; the gateway sees
only reports and the answer's text.

Repairs, each tied to an attempt number so that stale reports are ignored:
- a stage's stream breaks, it is refused, or its peer leaves the view: the
  subtask is placed on another peer (a new attempt) and its inputs are re-sent
  by the peers that produced them, or recomputed when those are gone;
- a report shows an output went to a peer that no longer holds that subtask
  (it was moved meanwhile): the producer is asked to re-send it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from hivemesh.errors import DecodeError, HivemeshError, JobFailed, first_error
from hivemesh.mesh import wire
from hivemesh.gateway import jobstate
from hivemesh.worker.pipewire import (
    DOWNSTREAM_UNREACHABLE,
    RESEND, STAGE, Resend, ResendAck, Route, StageAck, StageAssign, StageDone, verify_claim,
)
from hivemesh.worker.protocol import TaskReply
from hivemesh.worker.tokens import read_stage_end, token_sink, wants_tokens
from hivemesh.gateway.scheduler import Need, place
from hivemesh.planner.plan import Plan
from hivemesh.planner.template import needs

if TYPE_CHECKING:
    from hivemesh.gateway.jobrun import JobRun

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 10.0
VIEW_CHECK_S = 0.25
CAPABILITY_WAIT_S = 30.0
RETRY_BACKOFF_S = 2.0
REPORT_GRACE_S = 2.0  # after the answer, how long to wait for upstream reports (token counts)


class Conductor:
    def __init__(self, run: JobRun, plan: Plan) -> None:
        self.run, self.plan = run, plan
        self.children: dict[str, list[str]] = {s.id: [] for s in plan.subtasks}
        for s in plan.subtasks:
            for dep in s.depends_on:
                self.children[dep].append(s.id)
        self.scopes: dict[str, trio.CancelScope] = {}
        self.exclude: dict[str, set[str]] = {}
        self.parked: dict[str, str] = {}  # subtask -> capability no live peer offers now
        self.strikes: Counter[str] = Counter()  # failures that count against the subtask (``_strikes``)
        self.runnable_since: dict[str, tuple[int, float]] = {}  # subtask -> (attempt, when it could run)
        self._send, self._receive = trio.open_memory_channel[tuple[str, str, int, str, Any]](1000)
        self._nursery: trio.Nursery | None = None

    @property
    def subtasks(self) -> dict:
        return self.run.subtasks

    # --- the loop ---------------------------------------------------------------------

    async def execute(self) -> None:
        try:
            await self._execute()
        except BaseExceptionGroup as group:  # a JobFailed (or the store lost) inside the nursery
            error = first_error(group, JobFailed) or first_error(group)
            if error is None:
                raise
            raise error from None

    async def _execute(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._watch_view)
            todo = [s.id for s in self.plan.subtasks if self.subtasks[s.id].status != "done"]
            await self._place(todo, initial=True)
            for sid in todo:
                await self._feed(sid)
            while not self._finished():
                with trio.move_on_after(REPORT_GRACE_S if jobstate.complete(self.plan, self.subtasks) else 3600):
                    kind, sid, attempt, peer, payload = await self._receive.receive()
                    if attempt != self.subtasks[sid].attempts or self.subtasks[sid].status == "done":
                        self.run.stats["stale_reports"] += 1
                        log.info("stale %s ignored job=%s subtask=%s attempt=%d",
                                 kind, self.run.record.job_id, sid, attempt)
                        continue
                    if kind == "done":
                        await self._done(sid, peer, payload)
                    elif kind == "fatal":
                        raise JobFailed(payload)
                    elif kind == "retry":
                        await self._place([sid])
                        await self._feed(sid)
                    elif not jobstate.complete(self.plan, self.subtasks) and sid not in self.parked:
                        await self._failed(sid, peer, payload, strike=self._strikes(sid, kind))
                    continue
                break  # the answer is in; a late upstream report is not worth waiting longer for
            nursery.cancel_scope.cancel()

    # --- placing stages ---------------------------------------------------------------

    async def _place(self, sids: list[str], initial: bool = False) -> None:
        """Give each subtask in ``sids`` a (new) attempt on a peer, then send them.

        A capability the mesh has not offered lately fails a new job at once;
        one offered lately (its peers are restarting or being replaced), or any
        missing capability during a repair, parks the subtask until a capable
        peer appears (or ``CAPABILITY_WAIT_S`` passes)."""
        load = Counter(r.peer_id for i, r in self.subtasks.items() if r.status == "running" and i not in sids)
        wanted = [Need(s, self.plan.subtask(s).capability) for s in sids]
        schedule = place(wanted, self.run.node.view, load, self.exclude, self.run.node.banned())
        for sid in schedule.waiting:  # every capable peer failed it: wait for a new one, or back off
            self._park(sid, self.plan.subtask(sid).capability, backoff=True)
        if schedule.missing and initial:
            recent = self.run.node.view.recent_capabilities(self.run.node.config.clock())
            for sid, cap in schedule.missing.items():
                if cap not in recent:
                    raise JobFailed(f"no peer in the mesh offers capability {cap!r} (subtask {sid})")
        for sid, cap in schedule.missing.items():
            self._park(sid, cap)
        sids = [sid for sid in sids if sid in schedule.assigned]
        for sid in sids:
            record = self.subtasks[sid]
            if record.status == "running":
                record = jobstate.retried(record) if record.attempts < jobstate.MAX_ATTEMPTS else None
                if record is None:
                    raise JobFailed(f"subtask {sid} was placed {jobstate.MAX_ATTEMPTS} times without a result")
            self.subtasks[sid] = jobstate.started(record, schedule.assigned[sid])
            await self.run.save_subtask(sid)
        for sid in sids:
            self._launch(sid)
            peer = self.subtasks[sid].peer_id
            await self.run.emit("subtask_started", subtask_id=sid, capability=self.plan.subtask(sid).capability,
                                peer_id=peer, detail=f"attempt {self.subtasks[sid].attempts}")

    def _park(self, sid: str, capability: str, backoff: bool = False) -> None:
        """Wait for a peer that offers ``capability`` and has not failed ``sid``;
        with ``backoff``, give the peers that failed it another try after a pause."""
        if sid in self.parked:
            return
        self.parked[sid] = capability
        log.info("no usable peer offers %s for subtask %s now; waiting", capability, sid)
        assert self._nursery is not None
        self._nursery.start_soon(self._unpark, sid, capability, RETRY_BACKOFF_S if backoff else None)

    def _usable(self, sid: str, capability: str) -> bool:
        tried = self.exclude.get(sid, set()) | self.run.node.banned()
        return any(e.peer_id not in tried for e in self.run.node.view.with_capability(capability))

    async def _unpark(self, sid: str, capability: str, backoff: float | None) -> None:
        waited = 0.0
        with trio.move_on_after(CAPABILITY_WAIT_S):
            while not self._usable(sid, capability):
                if backoff is not None and waited >= backoff and self.run.node.view.with_capability(capability):
                    self.exclude[sid] = set()  # the same peers, once more
                    break
                await trio.sleep(VIEW_CHECK_S)
                waited += VIEW_CHECK_S
            del self.parked[sid]
            await self._send.send(("retry", sid, self.subtasks[sid].attempts, "", "a capable peer appeared"))
            return
        await self._send.send(("fatal", sid, self.subtasks[sid].attempts, "",
                               f"no peer offering {capability!r} came back within {CAPABILITY_WAIT_S:.0f}s"))

    def _finished(self) -> bool:
        return all(r.status == "done" for r in self.subtasks.values())

    def _routes(self, sid: str) -> tuple[Route, ...]:
        return tuple(
            Route(c, self.subtasks[c].peer_id, self.subtasks[c].attempts)
            for c in self.children[sid] if self.subtasks[c].status == "running"
        )

    def _assignment(self, sid: str) -> StageAssign:
        s, rec, job = self.plan.subtask(sid), self.subtasks[sid], self.run.record
        need = needs(s.prompt)
        wanted = range(len(job.inputs)) if need.all_inputs else need.inputs
        inputs = {str(i): job.inputs[i] for i in wanted}
        chunks = {str(i): self.run.chunks[i] for i in need.chunks}
        return StageAssign(
            job_id=job.job_id, subtask_id=sid, attempt=rec.attempts, capability=s.capability,
            template=s.prompt, job_text=job.text, inputs=inputs, chunks=chunks, depends_on=s.depends_on,
            downstream=self._routes(sid), max_tokens=s.max_tokens,
            deadline_s=self.run.settings.subtask_deadline_s, answer=sid == self.plan.answer,
            chat=s.format == "chat", stop=s.stop,
            tokens=wants_tokens(self.run, sid == self.plan.answer),  # streaming hook (issue 15)
        )

    def _launch(self, sid: str) -> None:
        old = self.scopes.pop(sid, None)
        if old is not None:
            old.cancel()  # closing the old stream cancels the old attempt on its peer
        scope = trio.CancelScope()
        self.scopes[sid] = scope
        assert self._nursery is not None
        self._nursery.start_soon(self._stage, sid, self.subtasks[sid].peer_id, self._assignment(sid), scope)

    async def _stage(self, sid: str, peer: str, assign: StageAssign, scope: trio.CancelScope) -> None:
        with scope:
            try:
                stream = await self.run.node.open_stream(peer, STAGE)
            except HivemeshError as exc:
                await self._send.send(("refused", sid, assign.attempt, peer, str(exc)))
                return
            try:
                await wire.write_message(stream, assign)
                with trio.fail_after(ACK_TIMEOUT_S):
                    ack = await wire.read_message(stream, StageAck)
                if not ack.ok:
                    await self._send.send(("refused", sid, assign.attempt, peer, f"{ack.error_code}: {ack.error}"))
                    return
                # streaming hook (issue 15): token frames of the answer stage go to the gateway's clients
                done = await read_stage_end(stream, token_sink(self.run, sid, assign.attempt, assign.answer))
                kind = "done" if done.ok else "failed"
                await self._send.send((kind, sid, assign.attempt, peer, done if done.ok else done.error))
            except (DecodeError, trio.TooSlowError, Exception) as exc:
                await self._send.send(("failed", sid, assign.attempt, peer, f"stage stream lost: {exc or type(exc).__name__}"))
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    try:
                        await stream.close()
                    except Exception:
                        pass

    # --- inputs ----------------------------------------------------------------------------

    async def _feed(self, sid: str) -> None:
        """Have each done dependency's producer send its output to ``sid``'s peer."""
        for dep in self.plan.subtask(sid).depends_on:
            if self.subtasks[dep].status == "done":
                await self._resend(dep, sid)

    async def _resend(self, dep: str, sid: str) -> None:
        producer = self.subtasks[dep].peer_id
        route = Route(sid, self.subtasks[sid].peer_id, self.subtasks[sid].attempts)
        outcome = await self._ask_resend(producer, dep, route)
        if outcome == "ok":
            return
        if outcome == "downstream":  # the producer has it; sid's peer is what failed
            await self._send.send(("refused", sid, route.attempt, route.peer_id, "unreachable for its inputs"))
            return
        log.info("output of %s is gone with peer %s; recomputing it", dep, producer[-8:])
        self.subtasks[dep] = replace(self.subtasks[dep], status="running")  # _place retries it
        await self.run.emit("subtask_retry", subtask_id=dep, peer_id=producer, detail="output lost; recomputing")
        await self._place([dep])
        await self._feed(dep)

    async def _ask_resend(self, producer: str, dep: str, route: Route) -> str:
        """"ok", "lost" (the producer or its copy is gone) or "downstream"."""
        if producer not in self.run.node.view.peers:
            return "lost"
        try:
            stream = await self.run.node.open_stream(producer, RESEND)
            try:
                with trio.fail_after(2 * ACK_TIMEOUT_S):
                    await wire.write_message(stream, Resend(self.run.record.job_id, dep, route))
                    ack = await wire.read_message(stream, ResendAck)
            finally:
                await stream.close()
        except Exception as exc:
            log.info("resend of %s via %s failed: %s", dep, producer[-8:], exc)
            return "lost"
        if ack.ok:
            return "ok"
        return "downstream" if ack.detail == DOWNSTREAM_UNREACHABLE else "lost"

    # --- outcomes --------------------------------------------------------------------------

    async def _done(self, sid: str, peer: str, done: StageDone) -> None:
        claim = done.claim
        answer = sid == self.plan.answer
        if (claim is None or claim.producer != peer or claim.subtask_id != sid
                or claim.attempt != self.subtasks[sid].attempts
                or not verify_claim(claim, done.sig, done.text if answer else None)):
            self.run.node.penalize(peer, "bad_report")
            await self._failed(sid, peer, "report failed verification", strike=False)  # the peer's fault
            return
        self.run.stats["payload_in_bytes"] += len(done.text.encode())
        reply = TaskReply(task_id=sid, ok=True, text=done.text if answer else "", peer_id=peer, model=done.model,
                          prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens, run_s=done.run_s)
        self.subtasks[sid] = replace(jobstate.finished(self.subtasks[sid], reply), output_hash=claim.output_hash)
        self.scopes.pop(sid, None)
        await self.run.save_subtask(sid)
        await self.run.emit("subtask_finished", subtask_id=sid, capability=self.plan.subtask(sid).capability,
                            peer_id=peer, detail=f"{done.model}, {done.output_bytes} bytes to {len(done.deliveries)} peer(s)")
        delivered = {(d.subtask_id, d.peer_id) for d in done.deliveries if d.ok}
        for child in self.children[sid]:
            rec = self.subtasks[child]
            if rec.status == "running" and (child, rec.peer_id) not in delivered:
                await self._resend(sid, child)  # it was moved, or the hand-off failed

    def _strikes(self, sid: str, kind: str) -> bool:
        return jobstate.strikes(self.plan, self.subtasks, sid, reached=kind != "refused")

    async def _failed(self, sid: str, peer: str, reason: str, strike: bool = True) -> None:
        log.info("stage failed job=%s subtask=%s peer=%s strike=%s: %s", self.run.record.job_id, sid, peer[-8:],
                 strike, reason)
        if strike:
            self.strikes[sid] += 1
            if self.strikes[sid] >= jobstate.MAX_STRIKES:
                raise JobFailed(f"subtask {sid} failed {self.strikes[sid]} times (last: {reason})")
        self.exclude.setdefault(sid, set()).add(peer)
        await self.run.emit("subtask_retry", subtask_id=sid, peer_id=peer, detail=str(reason)[:300])
        await self._place([sid])
        await self._feed(sid)

    async def _watch_view(self) -> None:
        """A stage whose peer left the mesh is treated as failed (its TCP
        connection may be half-open, so its stream need not break); so is one
        that could run for longer than its deadline without a report."""
        while True:
            await trio.sleep(VIEW_CHECK_S)
            for sid, rec in list(self.subtasks.items()):
                if sid in self.parked or rec.status != "running":
                    continue
                if rec.peer_id not in self.run.node.view.peers:
                    await self._send.send(("failed", sid, rec.attempts, rec.peer_id, "peer left the mesh"))
                elif self._stalled(sid, rec.attempts, trio.current_time()):
                    await self._send.send(("failed", sid, rec.attempts, rec.peer_id,
                                           "no report long past the deadline: stalled"))

    def _stalled(self, sid: str, attempt: int, now: float) -> bool:
        if not jobstate.inputs_done(self.plan, self.subtasks, sid):
            self.runnable_since.pop(sid, None)
            return False
        since_attempt, since = self.runnable_since.setdefault(sid, (attempt, now))
        if since_attempt != attempt:
            self.runnable_since[sid] = (attempt, now)
            return False
        settings = self.run.settings
        return now - since > settings.subtask_deadline_s + settings.stall_grace_s
