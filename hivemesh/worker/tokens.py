"""Streaming the answer stage's tokens on its ``/hivemesh/stage/1`` stream.

The worker side: a ``TokenPump`` takes text from the model's thread and
writes it as ``StageToken`` frames, coalescing whatever piled up while the
stream was busy (a slow gateway gets fewer, larger frames, never an unbounded
queue). The gateway side: ``read_stage_end`` reads token frames until the
``StageDone``, handing each token's text to a callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import trio

from hivemesh.errors import DecodeError
from hivemesh.mesh import wire
from hivemesh.worker.pipewire import StageDone, StageToken

OnToken = Callable[[str], None]
MAX_TOKEN_FRAMES = 64 * 1024  # per stage: far above any max_tokens
STAGE_END_KINDS = (StageToken, StageDone)  # what a stage stream carries after its ack


class TokenPump:
    """Text from any thread in, ``StageToken`` frames out on one stream."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._wake = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        self._seq = 0
        self.closed = False

    def push(self, text: str) -> None:
        """Called by the model, in its thread or inline on the trio loop."""
        if not text:
            return
        with self._lock:
            self._pending.append(text)
        try:
            trio.lowlevel.current_trio_token()
            self._wake.set()
        except RuntimeError:  # not on the trio loop: a worker thread
            try:
                self._token.run_sync_soon(lambda: self._wake.set())  # whichever event is current then
            except trio.RunFinishedError:
                pass

    def _take(self) -> str:
        with self._lock:
            text, self._pending = "".join(self._pending), []
        return text

    async def run(self) -> None:
        """Write frames as text comes, until ``stop`` (then the rest, and return).
        Never cancelled mid-frame by its owner: ``stop`` ends it between frames."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._write(self._take())
            if self.closed:
                await self._write(self._take())
                return

    def stop(self) -> None:
        self.closed = True
        self._wake.set()

    async def _write(self, text: str) -> None:
        for i in range(0, len(text), StageToken.MAX_CHARS):
            await wire.write_kind(self.stream, StageToken(text[i:i + StageToken.MAX_CHARS], self._seq))
            self._seq += 1


async def read_stage_end(stream: Any, on_token: OnToken | None) -> StageDone:
    """Read ``StageToken`` frames (each to ``on_token``) up to the ``StageDone``:
    tagged frames of those two kinds only, each within its own type's size limit."""
    for _ in range(MAX_TOKEN_FRAMES):
        msg = await wire.read_kind(stream, STAGE_END_KINDS)
        if isinstance(msg, StageDone):
            return msg
        assert isinstance(msg, StageToken)
        if on_token is not None:
            on_token(msg.token)
    raise DecodeError(f"more than {MAX_TOKEN_FRAMES} token frames in one stage")


def wants_tokens(run: Any, answer: bool) -> bool:
    """Whether a job run's stage should stream its tokens (``StageAssign.tokens``):
    the answer stage, when the gateway gave the run an ``on_token`` (the conductor's hook)."""
    return answer and run.on_token is not None


def token_sink(run: Any, subtask_id: str, attempt: int, answer: bool) -> OnToken | None:
    """Where a job run's answer-stage tokens go: its ``on_token(subtask_id,
    attempt, text)`` when the gateway set one (the conductor's hook)."""
    if not wants_tokens(run, answer):
        return None
    on_token = run.on_token
    return lambda text: on_token(subtask_id, attempt, text)
