"""The pipeline's trio executor: carries out the state machine's actions
(``pipeline.step``) and feeds back what happens as events.

Every subtask that is not done has a live stage on one peer: a
``/hivemesh/stage/1`` stream that carries the assignment out and, at the end,
the signed report back. Outputs travel worker to worker; the gateway sees
only reports and the answer's text. Every decision (where, when to repair,
when to give up) is the state machine's; this module only talks to peers,
the store and the clock.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

import trio

from hivemesh.errors import HivemeshError, JobFailed, TaskError, first_error
from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.checking import Produced
from hivemesh.gateway.pipeline import step
from hivemesh.worker.stagecall import HANDOFF_WAIT_S, read_undelivered, run_stage
from hivemesh.worker.tokens import token_sink, wants_tokens
from hivemesh.gateway.scheduler import Need, place
from hivemesh.mesh import guard, wire
from hivemesh.mesh.stream import describe
from hivemesh.planner.plan import Plan
from hivemesh.planner.template import needs
from hivemesh.worker.pipewire import (
    DOWNSTREAM_UNREACHABLE, RESEND, STAGE, Resend, ResendAck, Route, StageAssign, StageDone, verify_claim,
)
from hivemesh.worker.protocol import TaskReply

if TYPE_CHECKING:
    from hivemesh.gateway.jobrun import JobRun

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 10.0
VIEW_CHECK_S = 0.25
MAX_BATCH = 64  # events stepped before one store trip, at most


class Conductor:
    def __init__(self, run: JobRun, plan: Plan) -> None:
        self.run, self.plan = run, plan
        timing = ps.Timing(subtask_deadline_s=run.settings.subtask_deadline_s, stall_grace_s=run.settings.stall_grace_s)
        self.state = ps.initial(plan, run.subtasks, timing)
        self.scopes: dict[str, trio.CancelScope] = {}
        self._send, self._receive = trio.open_memory_channel[ps.Event](1000)
        self.pins: dict[str, str] = {}  # subtask -> the weights its checked stage is pinned to
        self.unchecked: dict[str, str] = {}  # subtask -> why its current stage's output is not checked
        self.produced: dict[tuple[str, int], Produced] = {}  # checked stages' outputs, for their checks
        self._nursery: trio.Nursery | None = None
        self._lease_lost = ""  # why this gateway may no longer act for the job
        #: this step's writes not made yet: subtask records, then events (one store trip)
        self._saves: dict[str, bytes] = {}
        self._events: list[tuple[str, dict[str, object]]] = []
        self._saved: trio.Event | None = None  # set once this step's records are stored

    # --- the loop ---------------------------------------------------------------------

    async def execute(self) -> None:
        try:
            await self._execute()
        except BaseExceptionGroup as group:  # a JobFailed (or the store lost) inside the nursery
            error = first_error(group, JobFailed) or first_error(group)
            if error is None:
                raise
            raise error from None
        if self.state.outcome == "failed":
            raise JobFailed(self.state.reason)
        if self.state.outcome == "stopped":
            raise HivemeshError(self.state.reason)

    async def _execute(self) -> None:
        job_id = self.run.record.job_id
        self.run.conductors[job_id] = self
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self.apply(ps.Start(self._now()))
                nursery.start_soon(self._watch)
                while self.state.outcome == "running":
                    await self.apply(*await self._next_events())
                nursery.cancel_scope.cancel()
        finally:
            if self.run.conductors.get(job_id) is self:
                del self.run.conductors[job_id]

    def running(self) -> Counter[str]:
        """This job's stages placed and not done, per peer."""
        return Counter(s.peer for s in self.state.subs.values() if s.status == "running")

    async def _next_events(self) -> list[ps.Event]:
        """The next event, and every one queued behind it (reports that came
        in together are stepped together: one store trip for them all)."""
        events = [await self._receive.receive()]
        while len(events) < MAX_BATCH:
            try:
                events.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        return events

    async def apply(self, *events: ps.Event) -> None:
        """Step the state machine with ``events`` in turn and carry out their
        actions; a placement is answered at once (its ``Placed`` is stepped in turn).

        The steps' records and events are written in one store trip at the
        end. A new stage's stream is opened meanwhile, but its assignment
        waits for that trip: a peer never runs a stage the store does not
        show it running."""
        for first in events:
            queue: list[ps.Event] = [first]
            while queue:
                event = queue.pop(0)
                if self._lease_lost:  # nothing more is done for the job here, whatever was under way
                    event, queue = ps.LeaseLost(self._now()), []
                self.state, actions = step(self.state, event)
                for action in actions:
                    if self._lease_lost and not isinstance(event, ps.LeaseLost):
                        queue = [ps.LeaseLost(self._now())]  # lost while carrying out this step
                        break
                    if isinstance(action, (ps.AskResend, ps.AskCheck)) and self._saves:
                        await self._flush()
                    answer = await self._do(action)
                    if answer is not None:
                        queue.append(answer)
        await self._flush()

    async def _flush(self) -> None:
        saves, events, saved = list(self._saves.items()), self._events, self._saved
        self._saves, self._events, self._saved = {}, [], None
        if saves or events:
            await self.run.write(saves, events)
        if saved is not None:
            saved.set()

    def _now(self) -> float:
        """The state machine's clock: time the gateway's loop had (its lag left
        out), so a stage is not "stalled" only because this gateway was starved."""
        return self.run.lag.clock()

    def lease_lost(self, reason: str) -> None:
        """The gateway's lease on the job is gone: feed ``LeaseLost`` before any other event."""
        log.info("pipeline stops here job=%s: %s", self.run.record.job_id, reason)
        self._lease_lost = reason
        try:
            self._send.send_nowait(ps.LeaseLost(self._now()))
        except trio.WouldBlock:  # a full queue: the next event read turns into LeaseLost
            pass

    async def _do(self, action: ps.Action) -> ps.Event | None:
        run = self.run
        match action:
            case ps.Place():
                return self._placed(action)
            case ps.Save(record):
                run.subtasks[record.id] = record
                self._saves[record.id] = wire.encode(record)  # the latest record of a subtask wins
            case ps.SendAssignment():
                self._launch(action)
            case ps.AskResend():
                assert self._nursery is not None
                self._nursery.start_soon(self._resend, action)
            case ps.AskCheck():
                assert self._nursery is not None
                self._nursery.start_soon(self._check, action)
            case ps.Notify(kind, sid, peer, detail):
                self._notify(kind, sid, peer, detail)
            case ps.Penalize(peer, reason):
                run.node.penalize(peer, reason)
            case ps.Ignored(what, sid, attempt):
                run.stats["stale_reports"] += 1
                log.info("stale %s ignored job=%s subtask=%s attempt=%d", what, run.record.job_id, sid, attempt)
            case ps.Park(sid, capability):
                log.info("no usable peer offers %s for subtask %s now; waiting job=%s", capability, sid,
                         run.record.job_id)
            case ps.Recompute(dep, producer, reason):
                log.info("%s of %s with peer %s; recomputing it job=%s", reason, dep, producer[-8:], run.record.job_id)
            case ps.Fail(reason):
                log.info("pipeline failed job=%s: %s", run.record.job_id, reason)
            case ps.Finish() | ps.Stop():
                pass
        return None

    def _notify(self, kind: str, sid: str, peer: str, detail: str) -> None:
        fields = {"subtask_id": sid, "peer_id": peer, "detail": detail}
        if kind != "subtask_retry":
            fields["capability"] = self.plan.subtask(sid).capability
        if kind == "subtask_finished":
            self.run.stats["payload_in_bytes"] += len(self.run.subtasks[sid].output.encode())
        if kind == "subtask_retry":
            log.info("stage failed job=%s subtask=%s peer=%s: %s", self.run.record.job_id, sid, peer[-8:], detail)
        self._events.append((kind, fields))

    # --- placing ----------------------------------------------------------------------

    def _placed(self, action: ps.Place) -> ps.Placed:
        node = self.run.node
        load = self.running()  # and every other job's here: concurrent jobs spread over the peers
        for other in self.run.conductors.values():
            if other is not self:
                load.update(other.running())
        wanted = [Need(sid, self.plan.subtask(sid).capability) for sid in action.sids]
        exclude = {sid: set(peers) for sid, peers in action.exclude.items()}
        schedule = place(wanted, node.view, load, exclude, node.banned(), self.run.health.suspects(trio.current_time()))
        unknown: frozenset[str] = frozenset()
        if action.initial and schedule.missing:
            recent = node.view.recent_capabilities(node.config.clock())
            unknown = frozenset(cap for cap in schedule.missing.values() if cap not in recent)
        return ps.Placed(self._now(), schedule.assigned, tuple(schedule.waiting), schedule.missing, unknown,
                         action.initial, self._to_check(schedule.assigned))

    def _to_check(self, assigned: dict[str, str]) -> frozenset[str]:
        """Of the new placements, those whose output the gateway's check desk samples (their weights pinned)."""
        desk = self.run.checks
        if desk is None:
            return frozenset()
        for sid, peer in assigned.items():
            self.pins[sid], self.unchecked[sid] = desk.should_check(self.run.node, peer,
                                                                    self.plan.subtask(sid).capability)
        return frozenset(sid for sid in assigned if self.pins[sid])

    def _assignment(self, action: ps.SendAssignment) -> StageAssign:
        sid = action.sid
        s, job = self.plan.subtask(sid), self.run.record
        need = needs(s.prompt)
        wanted = range(len(job.inputs)) if need.all_inputs else need.inputs
        inputs = {str(i): job.inputs[i] for i in wanted}
        chunks = {str(i): self.run.chunks[i] for i in need.chunks}
        return StageAssign(
            job_id=job.job_id, subtask_id=sid, attempt=action.attempt, capability=s.capability,
            template=s.prompt, job_text=job.text, inputs=inputs, chunks=chunks, depends_on=s.depends_on,
            downstream=tuple(Route(r.sid, r.peer, r.attempt) for r in action.downstream), max_tokens=s.max_tokens,
            deadline_s=self.run.settings.subtask_deadline_s, answer=sid == self.plan.answer,
            chat=s.format == "chat", stop=s.stop,
            # streaming hook (issue 15); a checked answer stage streams nothing: its text reaches clients
            # only after its check accepted it, in the result
            tokens=wants_tokens(self.run, sid == self.plan.answer) and not action.checked,
            checked=action.checked, model_hash=self.pins.get(sid, "") if action.checked else "",
        )

    def _launch(self, action: ps.SendAssignment) -> None:
        old = self.scopes.pop(action.sid, None)
        if old is not None:
            old.cancel()  # closing the old stream cancels the old attempt on its peer
        scope = self.scopes[action.sid] = trio.CancelScope()
        if self._saves and self._saved is None:
            self._saved = trio.Event()
        assert self._nursery is not None
        self._nursery.start_soon(self._stage, action.peer, self._assignment(action), scope, self._saved)

    # --- a stage's stream -------------------------------------------------------------

    async def _stage(self, peer: str, assign: StageAssign, scope: trio.CancelScope,
                     saved: trio.Event | None = None) -> None:
        sid, attempt = assign.subtask_id, assign.attempt
        with scope:
            try:
                stream = await self.run.node.open_stream(peer, STAGE, lazy=True)
            except HivemeshError as exc:
                await self._send.send(ps.StageRefused(self._now(), sid, attempt, peer,
                                                      self._broke(peer, assign), str(exc)))
                return
            try:
                if saved is not None:  # the assignment goes out once the store shows it (opened meanwhile)
                    await saved.wait()
                # streaming hook (issue 15): token frames of the answer stage go to the gateway's clients
                sink = None if assign.checked else token_sink(self.run, sid, assign.attempt, assign.answer)
                done = await run_stage(stream, assign, sink,
                                       ACK_TIMEOUT_S + self.run.lag.allowance())  # not broken just because we were slow
                await self._send.send(self._report(peer, assign, done))
                missed = await read_undelivered(stream, done, HANDOFF_WAIT_S + self.run.lag.allowance())
                if missed:  # the report counted them as handed off (it came before the acks)
                    log.info("hand-off not taken job=%s %s -> %s", self.run.record.job_id, sid,
                             ", ".join(f"{d.subtask_id}@{d.peer_id[-8:]}" for d in missed))
                    await self._send.send(ps.HandoffFailed(self._now(), sid, attempt, peer, routes=frozenset(
                        d.route for d in missed)))
            except TaskError as exc:  # the peer refused the assignment (busy: full, not a strike)
                await self._send.send(ps.StageRefused(self._now(), sid, attempt, peer,
                                                      reason=f"{exc.code}: {exc}", busy=exc.code == "busy"))
            except (HivemeshError, trio.TooSlowError) as exc:  # broken, bad frames, too slow: all ours now
                # the whole connection went (a dying or killed peer): the peer failed, not the subtask
                suspect = self._broke(peer, assign) or guard.connection_lost(stream.raw)
                await self._send.send(ps.StreamBroke(self._now(), sid, attempt, peer, suspect,
                                                     describe(exc)))
            finally:
                await stream.close()

    def _broke(self, peer: str, assign: StageAssign) -> bool:
        """Count a broken stage against ``peer``; is the peer a suspect now?"""
        now = trio.current_time()
        self.run.health.failed(peer, f"{assign.job_id}/{assign.subtask_id}/{assign.attempt}", now)
        return self.run.health.suspect(peer, now)

    def _report(self, peer: str, assign: StageAssign, done: StageDone) -> ps.Event:
        now, sid, attempt = self._now(), assign.subtask_id, assign.attempt
        if not done.ok:
            return ps.StageFailed(now, sid, attempt, peer, reason=done.error)
        self.run.health.succeeded(peer)
        claim = done.claim
        back = assign.answer or assign.checked  # the text came back: it must be the claimed output
        verified = (claim is not None and claim.producer == peer and claim.subtask_id == sid
                    and claim.attempt == attempt
                    and verify_claim(claim, done.sig, done.text if back else None))
        if assign.checked and verified:
            self.produced[(sid, attempt)] = Produced(assign, done.text, dict(done.inputs))
        reply = TaskReply(task_id=sid, ok=True, text=done.text if assign.answer else "", peer_id=peer,
                          model=done.model, prompt_tokens=done.prompt_tokens,
                          completion_tokens=done.completion_tokens, run_s=done.run_s)
        delivered = frozenset(d.route for d in done.deliveries if d.ok)
        return ps.StageDone(now, sid, attempt, peer, reply=reply, output_hash=claim.output_hash if claim else "",
                            verified=verified, delivered=delivered, used=dict(done.input_hashes),
                            check="" if assign.checked else self.unchecked.get(sid, ""),
                            detail=f"{done.model}, {done.output_bytes} bytes to {len(done.deliveries)} peer(s)")

    async def _check(self, ask: ps.AskCheck) -> None:
        assert self.run.checks is not None
        out = self.produced.pop((ask.sid, ask.attempt), None)
        event = await self.run.checks.verdict(self.run.node, ask, out, self._now())
        log.info("check of %s (attempt %d) by %s: %s %s job=%s", ask.sid, ask.attempt, ask.producer[-8:],
                 event.verdict, event.detail, self.run.record.job_id)
        await self._send.send(event)

    # --- inputs ----------------------------------------------------------------------------

    async def _resend(self, ask: ps.AskResend) -> None:
        to = ask.to
        outcome = await self._ask_resend(ask.producer, ask.dep, Route(to.sid, to.peer, to.attempt))
        log.info("resend of %s -> %s@%s via %s: %s job=%s", ask.dep, to.sid, to.peer[-8:], ask.producer[-8:], outcome,
                 self.run.record.job_id)
        now = self._now()
        if outcome == "downstream":  # the producer has it; the consumer's peer is what failed
            await self._send.send(ps.OutputUndeliverable(now, ask.dep, to.sid, to.attempt, to.peer))
        elif outcome == "lost":
            await self._send.send(ps.OutputLost(now, ask.dep, ask.dep_attempt, to.sid, to.attempt))

    async def _ask_resend(self, producer: str, dep: str, route: Route) -> str:
        """"ok", "lost" (the producer or its copy is gone) or "downstream"."""
        if producer not in self.run.node.view.peers:
            return "lost"
        try:
            with self.run.lag.fail_after(2 * ACK_TIMEOUT_S):  # opening the stream too: a dying peer may never answer
                stream = await self.run.node.open_stream(producer, RESEND)
                try:
                    await stream.send(Resend(self.run.record.job_id, dep, route))
                    ack = await stream.receive(ResendAck)
                finally:
                    await stream.close()
        except (HivemeshError, trio.TooSlowError) as exc:
            log.info("resend of %s via %s failed: %s", dep, producer[-8:], describe(exc))
            return "lost"
        if ack.ok:
            return "ok"
        return "downstream" if ack.detail == DOWNSTREAM_UNREACHABLE else "lost"

    # --- the clock and the view ------------------------------------------------------------

    async def _watch(self) -> None:
        """Ticks, peers that left the view (a stage's peer may be gone with its
        TCP connection half-open, so its stream need not break) and peers that
        joined it."""
        view = self.run.node.view
        known = set(view.peers)
        missing: dict[str, float] = {}  # peer -> since when; on a lagging loop, adverts expire late-read
        while True:
            await trio.sleep(VIEW_CHECK_S)
            now, peers = self._now(), set(view.peers)
            running = set(self.running())
            missing = {p: missing.get(p, now) for p in running - peers}
            for peer in sorted(p for p, since in missing.items() if now - since >= self.run.lag.allowance()):
                await self._send.send(ps.PeerGone(now, peer))
            for peer in sorted(peers - known):
                caps = frozenset(c for m in view.peers[peer].advert.models for c in m.capabilities)
                await self._send.send(ps.PeerJoined(now, peer, caps))
            known = peers
            await self._send.send(ps.DeadlinePassed(now))
