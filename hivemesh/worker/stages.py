"""Pipeline stages on a worker: inputs arrive from upstream peers, outputs go
straight to downstream peers, and only a small signed report (plus the
answer's text, for the answer subtask) goes back to the gateway.

A stage waits, holding no slot, until every dependency's output has arrived;
then it runs in one of the worker's slots. The producer keeps each output for
``RETENTION_S`` so the gateway can have it re-sent to a substitute peer.
Outputs that arrive before their stage is assigned are held briefly.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from hivemesh.errors import DecodeError, HivemeshError, StreamBroken
from hivemesh.gateway.looplag import LoopLag
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream, blames_sender
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.worker.pipewire import (
    DOWNSTREAM_UNREACHABLE, MAX_TEXT,
    OUTPUT, RESEND, STAGE, Claim, Delivery, Output, OutputAck, Resend, ResendAck, Route,
    StageAck, StageAssign, StageDone, Undelivered, digest, sign_claim, verify_claim,
)
from hivemesh.worker.handoff import IO_TIMEOUT_S, Links, Retained, Retention
from hivemesh.worker.protocol import BAD_REQUEST, check_pinned, error_code
from hivemesh.worker.tokens import OnToken, TokenPump
from hivemesh.worker.worker import Worker
from hivemesh.planner.template import fill

log = logging.getLogger(__name__)

MAX_STAGES = 256
MAX_EARLY = 256
MAX_FINISHED = 4096
EARLY_TTL_S = 60.0
LINK_IDLE_S = 60.0
GONE_CHECK_S = 0.5


def stage_request(assign: StageAssign, prompt: str) -> CompletionRequest:
    """What the model is asked: a user message, or raw text to continue."""
    if assign.chat:
        return CompletionRequest(messages=(ChatMessage("user", prompt),), max_tokens=assign.max_tokens,
                                 stop=assign.stop)
    return CompletionRequest(prompt=prompt, max_tokens=assign.max_tokens, stop=assign.stop)


@dataclass
class Stage:
    assign: StageAssign
    inputs: dict[str, Output] = field(default_factory=dict)
    ready: trio.Event = field(default_factory=trio.Event)

    def offer(self, output: Output) -> str:
        dep = output.claim.subtask_id
        if dep not in self.assign.depends_on:
            return "rejected"
        if dep in self.inputs:
            return "duplicate"
        self.inputs[dep] = output
        if len(self.inputs) == len(self.assign.depends_on):
            self.ready.set()
        return "accepted"


class StageRunner:
    def __init__(self, worker: Worker, node: MeshNode) -> None:
        self.worker, self.node = worker, node
        self.stages: dict[tuple[str, str], Stage] = {}
        self.early: OrderedDict[tuple[str, str, str], tuple[Output, float]] = OrderedDict()
        self.retained = Retention()
        self.links = Links(node)
        # recent stages (job, subtask, attempt), for late copies: a new attempt of
        # the same subtask here (after a repair or a resumed job) is not one of them
        self.finished: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self.stats: Counter[str] = Counter()
        #: this peer's loop lag: a stage's deadline counts only time the loop had (its
        #: ``run`` goes with the peer, see ``assemble``; ticking only while a stage runs)
        self.lag = LoopLag(lazy=True)

    def install(self) -> None:
        self.node.handle(STAGE, self.handle_stage)
        self.node.handle(OUTPUT, self.handle_output)
        self.node.handle(RESEND, self.handle_resend)

    # --- a stage, on the gateway's stream -------------------------------------------

    async def handle_stage(self, stream: Stream) -> None:
        assign = await stream.request(StageAssign, IO_TIMEOUT_S, self.node.penalize, self._bad_request)
        if assign is None:
            return
        refusal = self._refusal(assign)
        await stream.send(StageAck(refusal is None, *(refusal or ("", ""))))
        if refusal is not None:
            return
        key = (assign.job_id, assign.subtask_id)
        stage = self.stages[key] = Stage(assign)
        self._absorb_early(stage)
        if not assign.depends_on:
            stage.ready.set()
        done: StageDone | None = None
        kept: Retained | None = None
        pump = TokenPump(stream) if assign.tokens else None  # the output goes to the gateway as it is generated
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._cancel_when_closed, stream, nursery.cancel_scope, assign)
                async with trio.open_nursery() as pumping:
                    if pump is not None:
                        pumping.start_soon(pump.run)
                    done, kept = await self._run(stage, pump.push if pump is not None else None)
                    if pump is not None:
                        pump.stop()
                nursery.cancel_scope.cancel()
        finally:
            if self.stages.get(key) is stage:
                del self.stages[key]
            if done is not None and done.ok:
                self.finished[(*key, assign.attempt)] = None
                while len(self.finished) > MAX_FINISHED:
                    self.finished.popitem(last=False)
        if done is not None:
            await self._hand_off(stream, done, kept, assign.downstream if kept is not None else ())
            await stream.close()

    async def _hand_off(self, stream: Stream, done: StageDone, kept: Retained | None, routes: tuple[Route, ...]) -> None:
        """The report goes to the gateway as soon as the output is written to
        every downstream peer; once their acks are in, the gateway hears which
        copies were not taken (``Undelivered``; nothing when all were)."""
        if kept is None:  # a failed stage: nothing to hand off
            await wire.write_kind(stream, done)  # after the ack, frames are tagged (token, done, undelivered)
            return
        reported = True

        async def report() -> None:
            nonlocal reported
            try:
                await wire.write_kind(stream, done)
            except StreamBroken as exc:  # the gateway went: the copies still go out (another one may resume)
                log.info("report not sent job=%s subtask=%s: %s", kept.claim.job_id, kept.claim.subtask_id, exc)
                reported = False

        failed = await self._deliver_all(kept, routes, report)
        if failed and reported:
            try:
                await wire.write_kind(stream, Undelivered(failed))
            except StreamBroken:
                pass  # a stream that breaks before its end counts every copy as not taken

    def _bad_request(self, reason: str) -> StageAck:
        self.stats[BAD_REQUEST] += 1
        return StageAck(False, BAD_REQUEST, reason)

    def _refusal(self, assign: StageAssign) -> tuple[str, str] | None:
        try:
            check_pinned(self.worker.registry.model_for(assign.capability), assign.model_hash)
        except HivemeshError as exc:
            self.stats[error_code(exc)] += 1
            return error_code(exc), str(exc)
        if len(self.stages) >= MAX_STAGES:
            return "busy", f"{MAX_STAGES} stages already assigned here"
        if self.worker.admission.full():  # the gateway places it elsewhere, or waits: not a strike
            self.worker.stats["busy"] += 1
            a = self.worker.admission
            return "busy", f"all {a.slots} slots and {a.max_queue} queue places taken"
        return None

    async def _cancel_when_closed(self, stream: Stream, scope: trio.CancelScope, assign: StageAssign) -> None:
        """Cancel the stage when the gateway closes its stream or leaves the mesh
        (a dead gateway's connection may be half-open)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._until_gone, stream.peer, nursery.cancel_scope)
            await stream.wait_closed()
            nursery.cancel_scope.cancel()
        log.info("stage cancelled: gateway gone or closed job=%s subtask=%s attempt=%d",
                 assign.job_id, assign.subtask_id, assign.attempt)
        self.stats["cancelled"] += 1
        scope.cancel()

    async def _until_gone(self, peer_id: str, scope: trio.CancelScope) -> None:
        seen = peer_id in self.node.view.peers
        while True:
            await trio.sleep(GONE_CHECK_S)
            here = peer_id in self.node.view.peers
            if seen and not here:
                scope.cancel()
                return
            seen = seen or here

    async def _run(self, stage: Stage, on_token: OnToken | None = None) -> tuple[StageDone, Retained | None]:
        """The stage's report, and for a finished stage its output (not sent downstream yet)."""
        a = stage.assign
        await stage.ready.wait()
        outputs = {dep: out.text for dep, out in stage.inputs.items()}
        try:
            inputs = {int(k): v for k, v in a.inputs.items()}
            chunks = {int(k): v for k, v in a.chunks.items()}
            prompt = fill(a.template, a.job_text, inputs, chunks, outputs)
            request = stage_request(a, prompt)
            with self.lag.fail_after(a.deadline_s):  # a starved worker is slow, not late
                log.info("→ stage start job=%s subtask=%s attempt=%d", a.job_id, a.subtask_id, a.attempt)
                model, completion = await self.worker.run_model(a.capability, request, on_token)
        except trio.TooSlowError:
            return StageDone(ok=False, error_code="deadline", error=f"deadline of {a.deadline_s:.0f}s passed"), None
        except (HivemeshError, ValueError) as exc:  # ValueError: a non-numeric input index
            return StageDone(ok=False, error_code=error_code(exc), error=str(exc)[:500]), None
        claim = Claim(a.job_id, a.subtask_id, a.attempt, digest(completion.text), self.node.peer_id)
        sig = sign_claim(claim, self.node.config.keypair)
        kept = Retained(claim, sig, completion.text, time.monotonic())
        self.retained.put(kept)
        log.info("← stage done job=%s subtask=%s tokens=%d", a.job_id, a.subtask_id, completion.completion_tokens)
        self.stats["completed"] += 1
        return StageDone(
            ok=True, claim=claim, sig=sig, output_bytes=len(completion.text.encode()),
            text=completion.text if a.answer or a.checked else "", model=model.name,
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
            run_s=round(completion.seconds, 4),
            deliveries=tuple(Delivery(r.subtask_id, r.peer_id, True, r.attempt) for r in a.downstream),
            input_hashes={dep: out.claim.output_hash for dep, out in stage.inputs.items()},
            inputs=_checked_inputs(outputs) if a.checked else {},
        ), kept

    # --- outputs, worker to worker ---------------------------------------------------

    async def _deliver_all(self, kept: Retained, routes: tuple[Route, ...],
                           written: Callable[[], Awaitable[None]]) -> tuple[Delivery, ...]:
        """Send ``kept`` down every route; ``written()`` runs once each copy is
        written (their acks still on the way). The copies not taken, once every ack is in."""
        failed: list[Delivery] = []

        async def one(route: Route, sent: trio.Event) -> None:
            output = Output(route.subtask_id, route.attempt, kept.claim, kept.sig, kept.text)
            if not await self.deliver(output, route.peer_id, sent):
                failed.append(Delivery(route.subtask_id, route.peer_id, False, route.attempt))

        async with trio.open_nursery() as nursery:
            for route in routes:
                sent = trio.Event()
                nursery.start_soon(one, route, sent)
                await sent.wait()
            await written()
        return tuple(failed)

    async def deliver(self, output: Output, peer_id: str, written: trio.Event | None = None) -> bool:
        try:
            ack = await self.links.send(peer_id, output, written)
        except (HivemeshError, trio.TooSlowError) as exc:
            log.info("could not deliver output job=%s %s -> %s at %s: %s", output.claim.job_id,
                     output.claim.subtask_id, output.to_subtask, peer_id[-8:], exc)
            return False
        self.stats["delivered"] += 1
        return ack.status in ("accepted", "duplicate", "early")

    async def handle_output(self, stream: Stream) -> None:
        """Outputs from one upstream peer, one after another on a long-lived stream."""
        sender = stream.peer
        while True:
            try:
                output = await stream.receive(Output, LINK_IDLE_S)
            except (DecodeError, StreamBroken, trio.TooSlowError) as exc:
                if blames_sender(exc):
                    self.node.penalize(sender, "malformed")
                await stream.close()  # the sender is done with this link, gone, idle or hostile
                return
            status = self.receive(output, sender)
            self.stats[f"output_{status}"] += 1
            with trio.fail_after(IO_TIMEOUT_S):
                await stream.send(OutputAck(status))

    def receive(self, output: Output, sender: str) -> str:
        """Take an upstream output: verified, for a known stage, once."""
        claim = output.claim
        if claim.producer != sender or not verify_claim(claim, output.sig, output.text):
            log.warning("rejected output job=%s from=%s: bad signature or producer", claim.job_id, sender[-8:])
            self.node.penalize(sender, "bad_output")
            return "rejected"
        stage = self.stages.get((claim.job_id, output.to_subtask))
        if stage is None and (claim.job_id, output.to_subtask, output.to_attempt) in self.finished:
            log.info("late duplicate output ignored job=%s %s -> %s", claim.job_id, claim.subtask_id, output.to_subtask)
            return "duplicate"
        if stage is None:
            self._hold_early(output)
            return "early"
        status = stage.offer(output)
        if status == "duplicate":
            log.info("duplicate output ignored job=%s %s -> %s", claim.job_id, claim.subtask_id, output.to_subtask)
        return status

    def _hold_early(self, output: Output) -> None:
        now = time.monotonic()
        self.early[(output.claim.job_id, output.to_subtask, output.claim.subtask_id)] = (output, now)
        while self.early and (len(self.early) > MAX_EARLY or now - next(iter(self.early.values()))[1] > EARLY_TTL_S):
            self.early.popitem(last=False)

    def _absorb_early(self, stage: Stage) -> None:
        a = stage.assign
        for dep in a.depends_on:
            held = self.early.pop((a.job_id, a.subtask_id, dep), None)
            if held is not None:
                stage.offer(held[0])

    # --- re-sending a retained output ----------------------------------------------

    async def handle_resend(self, stream: Stream) -> None:
        with trio.fail_after(2 * IO_TIMEOUT_S):
            request = await stream.receive(Resend)
            entry = self.node.view.peers.get(stream.peer)
            if entry is None or "gateway" not in entry.advert.roles:
                await stream.send(ResendAck(False, "only a gateway may ask for a resend"))
                return
            kept = self.retained.get(request.job_id, request.from_subtask, time.monotonic())
            if kept is None:
                await stream.send(ResendAck(False, "output no longer kept"))
                return
            route = request.route
            ok = await self.deliver(Output(route.subtask_id, route.attempt, kept.claim, kept.sig, kept.text),
                                    route.peer_id)
            await stream.send(ResendAck(ok, "" if ok else DOWNSTREAM_UNREACHABLE))
            await stream.close()


def _checked_inputs(outputs: dict[str, str]) -> dict[str, str]:
    """A checked stage's inputs for the gateway's check (none when too big to send: it goes unchecked)."""
    return outputs if sum(len(t.encode()) for t in outputs.values()) <= MAX_TEXT else {}
