"""The worker role: run subtasks that other peers send on ``/hivemesh/task/1``.

Admission is bounded: ``slots`` subtasks run at once and at most
``max_queue`` wait; beyond that the answer is "busy" at once. A subtask is
cancelled when its deadline passes or the caller goes away, and its slot is
freed only once the model has really stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from hivemesh.errors import DeadlineExceeded, HivemeshError, WorkerBusy
from hivemesh.mesh import advert as adv
from hivemesh.mesh.stream import Stream
from hivemesh.models.base import ChatMessage, Completion, CompletionRequest, ModelBackend
from hivemesh.models.registry import ModelRegistry
from hivemesh.worker.protocol import BAD_REQUEST, TaskReply, TaskRequest, check_pinned, error_code

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0


@dataclass
class Admission:
    """Slot and queue accounting. Pure."""

    slots: int
    max_queue: int
    running: int = 0
    waiting: int = 0

    def admit(self) -> bool:
        if self.running + self.waiting >= self.slots + self.max_queue:
            return False
        self.waiting += 1
        return True

    def start(self) -> None:
        self.waiting -= 1
        self.running += 1

    def leave(self, started: bool) -> None:
        if started:
            self.running -= 1
        else:
            self.waiting -= 1

    def capacity(self) -> adv.Capacity:
        return adv.Capacity(slots_total=self.slots, slots_free=max(0, self.slots - self.running),
                            queue=self.waiting)


async def generate_in_thread(model: ModelBackend, request: CompletionRequest,
                             on_token: Callable[[str], None] | None = None) -> Completion:
    """Run a blocking generation; on cancellation, stop the model and wait for it.
    A backend that declares ``nonblocking`` (it returns at once) runs inline.
    ``on_token`` gets the text as it is generated, from a backend that declares
    ``streams`` (called in the model's thread)."""
    generate = model.generate
    if on_token is not None and getattr(model, "streams", False):
        generate = partial(model.generate, on_token=on_token)  # type: ignore[call-arg]
    if getattr(model, "nonblocking", False):
        return generate(request)
    cancel = threading.Event()
    result: list[Completion] = []
    error: list[Exception] = []

    async def run(scope: trio.CancelScope) -> None:
        try:
            result.append(await trio.to_thread.run_sync(generate, request, cancel))
        except Exception as exc:  # re-raised below, outside the nursery's group
            error.append(exc)
        scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, nursery.cancel_scope)
        try:
            await trio.sleep_forever()
        finally:
            cancel.set()  # no-op when the model is done; stops it when we were cancelled
    if error:
        raise error[0]
    return result[0]


class Worker:
    def __init__(self, registry: ModelRegistry, peer_id: str, slots: int, max_queue: int | None = None) -> None:
        self.registry = registry
        self.peer_id = peer_id
        self.admission = Admission(slots, slots if max_queue is None else max_queue)
        self._semaphore = trio.Semaphore(slots)
        self.stats: Counter[str] = Counter()
        self.penalize: Callable[[str, str], None] = lambda peer, offence: None  # set by the node
        self.on_subtask: Callable[[str, float], None] = lambda capability, seconds: None  # metrics

    def advert_fields(self) -> tuple[tuple[adv.ModelAd, ...], adv.Capacity]:
        models = tuple(
            adv.ModelAd(name=i.name, capabilities=i.capabilities, context_size=i.context_size,
                        tokens_per_second=round(i.tokens_per_second, 2), sha256=i.sha256, quant=i.quant)
            for i in self.registry.infos()
        )
        return models, self.admission.capacity()

    # --- the stream shell -------------------------------------------------------

    async def handle_stream(self, stream: Stream) -> None:
        request = await stream.request(TaskRequest, READ_TIMEOUT_S, self.penalize, self._bad_request)
        if request is None:
            await stream.close()
            return
        reply = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_caller, stream, request.task_id, nursery.cancel_scope)
            reply = await self.execute(request)
            nursery.cancel_scope.cancel()
        if reply is not None:
            await stream.send(reply)
            await stream.close()

    def _bad_request(self, reason: str) -> TaskReply:
        self.stats[BAD_REQUEST] += 1
        return TaskReply(task_id="", ok=False, error_code=BAD_REQUEST, error=reason, peer_id=self.peer_id)

    async def _watch_caller(self, stream: Stream, task_id: str, scope: trio.CancelScope) -> None:
        await stream.wait_closed()
        log.info("subtask cancelled: caller went away task=%s", task_id)
        self.stats["cancelled"] += 1
        scope.cancel()

    async def run_model(self, capability: str, request: CompletionRequest,
                        on_token: Callable[[str], None] | None = None) -> tuple[ModelBackend, Completion]:
        """Run ``request`` on this peer's model for ``capability`` in one of its
        slots, waiting for a slot when all are taken (pipeline stages do; the
        gateway already decided this peer runs them)."""
        model = self.registry.model_for(capability)
        async with self._slot():
            completion = await generate_in_thread(model, request, on_token)
        self.registry.observe(model.name, completion)
        self.on_subtask(capability, completion.seconds)
        self.stats["completed"] += 1
        return model, completion

    async def run_blocking(self, model: ModelBackend, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` (a blocking call on ``model``, such as a check) in
        one of this peer's slots, in a thread unless the model is nonblocking."""
        async with self._slot():
            if getattr(model, "nonblocking", False):
                return fn(*args)
            return await trio.to_thread.run_sync(fn, *args)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of this peer's slots, waiting (counted as waiting) for one."""
        self.admission.waiting += 1
        started = False
        try:
            async with self._semaphore:
                self.admission.start()
                started = True
                yield
        finally:
            self.admission.leave(started)

    # --- the logic ----------------------------------------------------------------

    async def execute(self, request: TaskRequest) -> TaskReply:
        received = time.monotonic()
        try:
            model = self.registry.model_for(request.capability)
            check_pinned(model, request.model_hash)
            if not self.admission.admit():
                raise WorkerBusy(f"all {self.admission.slots} slots and {self.admission.max_queue} queue places taken")
        except HivemeshError as exc:
            self.stats[error_code(exc)] += 1
            return self._error(request, exc)
        started = False
        try:
            with trio.move_on_after(request.deadline_s) as deadline:
                async with self._semaphore:
                    self.admission.start()
                    started = True
                    queued = time.monotonic() - received
                    log.info("→ subtask start task=%s job=%s capability=%s model=%s",
                             request.task_id, request.job_id, request.capability, model.name)
                    completion = await generate_in_thread(model, to_completion_request(request))
            if deadline.cancelled_caught:
                raise DeadlineExceeded(f"deadline of {request.deadline_s:.1f}s passed")
        except HivemeshError as exc:
            self.stats[error_code(exc)] += 1
            log.info("✗ subtask failed task=%s code=%s: %s", request.task_id, error_code(exc), exc)
            return self._error(request, exc)
        except Exception as exc:  # a backend bug must not cost the caller its answer
            self.stats["failed"] += 1
            log.exception("✗ subtask crashed task=%s", request.task_id)
            return self._error(request, exc)
        finally:
            self.admission.leave(started)
        self.registry.observe(model.name, completion)
        self.on_subtask(request.capability, completion.seconds)
        self.stats["completed"] += 1
        log.info("← subtask done task=%s tokens=%d seconds=%.2f", request.task_id,
                 completion.completion_tokens, completion.seconds)
        return TaskReply(
            task_id=request.task_id, ok=True, text=completion.text, peer_id=self.peer_id,
            model=model.name, prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, queue_s=round(queued, 4),
            run_s=round(completion.seconds, 4), finish_reason=completion.finish_reason,
        )

    def _error(self, request: TaskRequest, exc: Exception) -> TaskReply:
        return TaskReply(task_id=request.task_id, ok=False, error_code=error_code(exc),
                         error=str(exc)[:500], peer_id=self.peer_id)


def to_completion_request(request: TaskRequest) -> CompletionRequest:
    common = dict(max_tokens=request.max_tokens, temperature=request.temperature, stop=request.stop,
                  seed=request.seed, json_schema=request.json_schema)
    if request.chat:
        return CompletionRequest(messages=(ChatMessage("user", request.prompt),), **common)
    return CompletionRequest(prompt=request.prompt, **common)
