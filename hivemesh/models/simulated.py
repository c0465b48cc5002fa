"""A simulated model: deterministic text, configurable speed, no weights.

Its reply starts with ``[<name> <digest>]``, where ``<digest>`` is the first
8 hex digits of the SHA-256 of the prompt, so a test can check which model
saw which prompt. With ``echo=True`` the prompt follows (``echo: ...``), so a
downstream reply shows which upstream outputs went into its prompt. A
``json_schema`` request gets a small JSON instance of the schema instead.
Tokens are whitespace-separated words. Used by the simulation harness and by
tests of the logic around models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable

from hivemesh.errors import ModelError
from hivemesh.models.base import Completion, CompletionRequest, fit_max_tokens
from hivemesh.models.identity import pseudo_hash
from hivemesh.models.scoring import EXACT, MISS_GAP, MISS_RANK, CheckPolicy, CheckVerdict, judge
from hivemesh.models.schema_sample import sample_instance

log = logging.getLogger(__name__)

FILLER = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def prompt_digest(prompt: str) -> str:
    """The 8-hex-digit digest a simulated reply carries for ``prompt``."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:8]


class SimulatedModel:
    """A ``ModelBackend`` whose replies are a pure function of the request."""

    def __init__(
        self,
        name: str = "sim",
        *,
        latency_s: float = 0.0,
        tokens_per_second: float = 0.0,
        context_size: int = 4096,
        echo: bool = False,
        reply_words: int = 8,
        script: Callable[[str], str] | None = None,
    ) -> None:
        """``tokens_per_second=0`` emits instantly; ``script`` overrides the text."""
        if latency_s < 0 or tokens_per_second < 0 or reply_words < 0 or context_size < 1:
            raise ValueError("simulated model settings must be non-negative")
        self.name = name
        self.context_size = context_size
        self.latency_s = latency_s
        self.tokens_per_second = tokens_per_second
        self.echo = echo
        self.reply_words = reply_words
        self.script = script
        self.quant = "sim"

    @property
    def model_hash(self) -> str:
        """A pseudo-hash of everything that shapes the replies: two simulated
        models with the same hash give the same text for the same request."""
        script = getattr(self.script, "__qualname__", "") if self.script is not None else ""
        return pseudo_hash("sim", self.name, self.echo, self.reply_words, script)

    @property
    def nonblocking(self) -> bool:
        """True when ``generate`` returns at once (no latency, no pacing): callers
        may run it without a worker thread."""
        return self.latency_s == 0 and self.tokens_per_second == 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def reply_text(self, request: CompletionRequest) -> str:
        """The whole reply this model would give with no token limit or stop."""
        prompt = request.plain_prompt()
        if self.script is not None:
            return self.script(prompt)
        digest = prompt_digest(prompt)
        if request.json_schema is not None:
            return json.dumps(sample_instance(_load_schema(request.json_schema), digest))
        words = [f"[{self.name} {digest}]"]
        if self.echo:
            words += ["echo:", prompt]
        start = int(digest, 16)
        words += [FILLER[(start + i) % len(FILLER)] for i in range(self.reply_words)]
        return " ".join(words)

    def score(self, request: CompletionRequest, output_text: str,
              policy: CheckPolicy | None = None) -> CheckVerdict:
        """The deterministic check: the claimed words must be the words this
        model gives for ``request`` (a prefix of them: a cancelled or cut
        generation is shorter). Each differing word is a miss."""
        started = time.monotonic()
        limit = fit_max_tokens(self.count_tokens(request.plain_prompt()), request.max_tokens, self.context_size)
        expected, _ = _cut(self.reply_text(request), request.stop, limit)
        claimed = output_text.split()
        ranks = [0 if i < len(expected) and word == expected[i] else MISS_RANK for i, word in enumerate(claimed)]
        gaps = [0.0 if r == 0 else MISS_GAP for r in ranks]
        return judge(ranks, gaps, EXACT, time.monotonic() - started)

    streams = True  # generate(..., on_token=) hands out each word as it is due

    def generate(
        self, request: CompletionRequest, cancel: threading.Event | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion:
        started = time.monotonic()
        prompt_tokens = self.count_tokens(request.plain_prompt())
        limit = fit_max_tokens(prompt_tokens, request.max_tokens, self.context_size)
        tokens, finish = _cut(self.reply_text(request), request.stop, limit)
        emitted = 0
        if not _wait(self.latency_s, cancel):
            finish = "cancelled"
        else:
            emitted = self._emit(tokens, started + self.latency_s, cancel, on_token)
            if emitted < len(tokens):
                finish = "cancelled"
        log.debug("%s: %d tokens, %s", self.name, emitted, finish)
        return Completion(
            text=" ".join(tokens[:emitted]),
            prompt_tokens=prompt_tokens,
            completion_tokens=emitted,
            seconds=time.monotonic() - started,
            finish_reason=finish,
            model=self.name,
        )

    def _emit(self, tokens: list[str], start: float, cancel: threading.Event | None,
              on_token: Callable[[str], None] | None = None) -> int:
        """Paces ``tokens`` from ``start``; returns how many went out."""
        for i, token in enumerate(tokens):
            if cancel is not None and cancel.is_set():
                return i
            if self.tokens_per_second > 0:
                due = start + (i + 1) / self.tokens_per_second
                if not _wait(due - time.monotonic(), cancel):
                    return i
            if on_token is not None:
                on_token(token if i == 0 else " " + token)
        return len(tokens)


def _load_schema(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ModelError(f"the JSON schema is not JSON: {exc}") from exc


def _cut(text: str, stop: tuple[str, ...], limit: int) -> tuple[list[str], str]:
    """Applies stop strings, then the token limit, as a real model would."""
    finish = "stop"
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if hits:
        text = text[: min(hits)]
    tokens = text.split()
    if len(tokens) > limit:
        tokens, finish = tokens[:limit], "length"
    return tokens, finish


def _wait(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleeps ``seconds``, waking early on cancel; False when cancelled."""
    if cancel is None:
        if seconds > 0:
            time.sleep(seconds)
        return True
    if seconds > 0:
        cancel.wait(seconds)
    return not cancel.is_set()
