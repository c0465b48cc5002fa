"""The worker role: a peer's models and slots, shared by the pipeline stages it
runs (``stages.StageRunner``, ``/hivemesh/stage/1``, the one execution path)
and the checks it makes (``checker``).

``slots`` generations run at once; at most ``max_queue`` more wait for a slot
(counted as queued in the advert); past that a stage is refused "busy" at
once, and the gateway places it elsewhere or waits (no strike). A generation is cancelled when its deadline passes or
its caller goes away, and its slot is freed only once the model has really
stopped.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from hivemesh.mesh import advert as adv
from hivemesh.models.base import Completion, CompletionRequest, ModelBackend
from hivemesh.models.registry import ModelRegistry


@dataclass
class Admission:
    """Slot and queue accounting. Pure."""

    slots: int
    max_queue: int
    running: int = 0
    waiting: int = 0

    def full(self) -> bool:
        return self.running + self.waiting >= self.slots + self.max_queue

    def wait(self) -> None:
        self.waiting += 1

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
        self.on_subtask: Callable[[str, float], None] = lambda capability, seconds: None  # metrics

    def advert_fields(self) -> tuple[tuple[adv.ModelAd, ...], adv.Capacity]:
        models = tuple(
            adv.ModelAd(name=i.name, capabilities=i.capabilities, context_size=i.context_size,
                        tokens_per_second=round(i.tokens_per_second, 2), sha256=i.sha256, quant=i.quant)
            for i in self.registry.infos()
        )
        return models, self.admission.capacity()

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
        self.admission.wait()
        started = False
        try:
            async with self._semaphore:
                self.admission.start()
                started = True
                yield
        finally:
            self.admission.leave(started)
