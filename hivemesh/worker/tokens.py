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

from hivemesh.errors import DecodeError, FrameTooLarge
from hivemesh.mesh import wire
from hivemesh.worker.pipewire import StageDone, StageToken

OnToken = Callable[[str], None]
MAX_TOKEN_FRAMES = 64 * 1024  # per stage: far above any max_tokens


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
            await wire.write_message(self.stream, StageToken(text[i:i + StageToken.MAX_CHARS], self._seq))
            self._seq += 1


async def read_stage_end(stream: Any, on_token: OnToken | None) -> StageDone:
    """Read ``StageToken`` frames (each to ``on_token``) up to the ``StageDone``.

    A frame is a token when its map has a ``token`` key; it is then decoded
    strictly as a ``StageToken`` within that type's size limit, else as a
    ``StageDone``."""
    for _ in range(MAX_TOKEN_FRAMES):
        data = await wire.read_frame(stream, StageDone.MAX_BYTES)
        if _is_token(data):
            if len(data) > StageToken.MAX_BYTES:
                raise FrameTooLarge(f"StageToken is {len(data)} bytes, limit {StageToken.MAX_BYTES}")
            token = wire.decode(StageToken, data)
            if on_token is not None:
                on_token(token.token)
            continue
        return wire.decode(StageDone, data)
    raise DecodeError(f"more than {MAX_TOKEN_FRAMES} token frames in one stage")


def _is_token(data: bytes) -> bool:
    """Cheap test of the frame's first map key: msgpack fixmap + fixstr "token"."""
    return data[:1] == b"\x82" and data[1:7] == b"\xa5token"


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
