"""The model backend interface: one method, capabilities as data.

Optional, declared by having them: ``model_hash`` and ``quant`` (the pinned
weights, ``hivemesh.models.identity``) and ``score(request, output_text,
policy=None) -> CheckVerdict`` (checking another peer's claimed output for
``request`` without generating it again, ``hivemesh.models.scoring``).

A backend turns a ``CompletionRequest`` into a ``Completion``. ``generate`` is
blocking (llama.cpp is); async callers run it with ``trio.to_thread.run_sync``.
A caller that wants to stop a generation early sets the ``cancel`` event; the
backend checks it between tokens and returns with ``finish_reason="cancelled"``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from hivemesh.errors import ContextOverflow


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """What to generate. Exactly one of ``prompt`` and ``messages`` is set."""

    prompt: str | None = None
    messages: tuple[ChatMessage, ...] | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: str | None = None  # a JSON Schema document, as JSON text

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("exactly one of prompt and messages must be set")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")

    def text_for_counting(self) -> str:
        if self.prompt is not None:
            return self.prompt
        return "\n".join(m.content for m in self.messages or ())

    def plain_prompt(self) -> str:
        """The prompt, or the messages rendered as a plain transcript."""
        if self.prompt is not None:
            return self.prompt
        return render_plain(self.messages or ())


PLAIN_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}
# stops a base model from writing the next turn, or a second paragraph: without
# a chat template, small base models ramble and repeat after their first one
PLAIN_STOP = ("\nUser:", "\n\n")


def render_plain(messages: tuple[ChatMessage, ...]) -> str:
    """Messages as ``Role: text`` paragraphs, ending with ``Assistant:``."""
    turns = [f"{PLAIN_ROLES.get(m.role, m.role.title())}: {m.content}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def fit_max_tokens(prompt_tokens: int, max_tokens: int, context_size: int) -> int:
    """How many tokens a generation may produce in ``context_size``.

    The policy every backend follows: a prompt that fills the context
    (``prompt_tokens >= context_size``) raises ``ContextOverflow`` before
    anything is generated; otherwise ``max_tokens`` is clamped to the room
    left, and a clamped generation ends with ``finish_reason="length"``.
    """
    if prompt_tokens >= context_size:
        raise ContextOverflow(
            f"prompt is {prompt_tokens} tokens, the model's context is {context_size}"
        )
    return min(max_tokens, context_size - prompt_tokens)


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str  # "stop" | "length" | "cancelled"
    model: str = ""

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class ModelBackend(Protocol):
    """A loaded model. ``name`` and ``context_size`` are advertised."""

    name: str
    context_size: int

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self, request: CompletionRequest, cancel: threading.Event | None = None
    ) -> Completion: ...


@dataclass
class SpeedMeter:
    """Tokens/s of a model, measured at warm-up and updated from traffic (EWMA)."""

    tokens_per_second: float = 0.0
    alpha: float = 0.3
    samples: int = field(default=0)

    def observe(self, completion: Completion) -> None:
        if completion.completion_tokens < 4 or completion.seconds <= 0:
            return
        rate = completion.tokens_per_second
        if self.samples == 0:
            self.tokens_per_second = rate
        else:
            self.tokens_per_second += self.alpha * (rate - self.tokens_per_second)
        self.samples += 1
