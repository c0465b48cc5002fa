"""What the eval compares: one small interface, ``name`` and ``answer(task)``.

- ``SingleModel``: one local model answers the whole job (its text, then the
  inputs) in one call, no planning: what a user gets from llama.cpp alone.
- ``CloudModel``: Claude answers alone through the ``anthropic`` SDK (which
  honours ``ANTHROPIC_BASE_URL``), tokens priced by ``planner.pricing``.
- ``meshsys``: the mesh, embedded or over ``--bootstrap``, offline-planned
  (``mesh``) or Claude-planned (``mesh+claude``).

A system reports failures in ``Answer.error``; it raises only for bugs.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from hivemesh.eval.suite import Task

log = logging.getLogger(__name__)

SINGLE_MAX_TOKENS = 256
CLOUD_MAX_TOKENS = 1024
CLOUD_SYSTEM = "Answer the user's request directly and concisely. If it asks for several things, give each of them."


@dataclass(frozen=True)
class Answer:
    text: str
    seconds: float
    cloud_input_tokens: int = 0
    cloud_output_tokens: int = 0
    mesh_tokens: int = 0  # tokens of local models (prompt + completion)
    usd: float = 0.0
    error: str = ""
    detail: str = ""  # e.g. the planner that planned it

    @property
    def cloud_tokens(self) -> int:
        return self.cloud_input_tokens + self.cloud_output_tokens


class System(Protocol):
    name: str

    async def answer(self, task: Task) -> Answer: ...


def prompt_of(task: Task) -> str:
    """The whole job as one message: the user's words, then each input."""
    return "\n\n".join([task.job, *task.inputs])


class SingleModel:
    """A local model answering each job in one generation."""

    def __init__(self, model: Any, *, name: str = "single", max_tokens: int = SINGLE_MAX_TOKENS) -> None:
        self.model, self.name, self.max_tokens = model, name, max_tokens

    async def answer(self, task: Task) -> Answer:
        from hivemesh.errors import HivemeshError
        from hivemesh.models.base import ChatMessage, CompletionRequest

        request = CompletionRequest(messages=(ChatMessage("user", prompt_of(task)),), max_tokens=self.max_tokens)
        cancel = threading.Event()
        started = time.monotonic()
        try:
            completion = await trio.to_thread.run_sync(self.model.generate, request, cancel, abandon_on_cancel=True)
        except trio.Cancelled:
            cancel.set()  # the abandoned generation stops within a token
            raise
        except HivemeshError as exc:
            return Answer("", time.monotonic() - started, error=str(exc))
        return Answer(completion.text.strip(), time.monotonic() - started,
                      mesh_tokens=completion.prompt_tokens + completion.completion_tokens,
                      detail=f"{self.model.name} {completion.finish_reason}")


class CloudModel:
    """Claude answering each job alone. ``client`` is an ``anthropic.Anthropic``."""

    name = "cloud"

    def __init__(self, client: Any, model: str, *, max_tokens: int = CLOUD_MAX_TOKENS) -> None:
        self.client, self.model, self.max_tokens = client, model, max_tokens

    async def answer(self, task: Task) -> Answer:
        import anthropic

        from hivemesh.planner.pricing import cloud_usd

        call = functools.partial(self.client.messages.create, model=self.model, max_tokens=self.max_tokens,
                                 system=CLOUD_SYSTEM, messages=[{"role": "user", "content": prompt_of(task)}])
        started = time.monotonic()
        try:
            reply = await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        except anthropic.AnthropicError as exc:
            log.warning("cloud: %s failed: %s", task.id, exc)
            return Answer("", time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
        seconds = time.monotonic() - started
        text = "".join(getattr(b, "text", "") for b in reply.content if getattr(b, "type", "") == "text")
        tokens_in = int(getattr(reply.usage, "input_tokens", 0) or 0)
        tokens_out = int(getattr(reply.usage, "output_tokens", 0) or 0)
        return Answer(text.strip(), seconds, tokens_in, tokens_out, 0, cloud_usd(self.model, tokens_in, tokens_out),
                      detail=f"{self.model} {reply.stop_reason}")


def cloud_client(api_key: str, timeout: float = 120.0) -> Any:
    """An ``anthropic.Anthropic`` client (base URL from ``ANTHROPIC_BASE_URL``)."""
    from hivemesh.errors import BackendUnavailable

    try:
        import anthropic
    except ImportError:
        raise BackendUnavailable("the cloud system needs the 'anthropic' package (pip install anthropic)") from None
    return anthropic.Anthropic(api_key=api_key, max_retries=2, timeout=timeout)
