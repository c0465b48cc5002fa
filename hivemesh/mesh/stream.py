"""The stream edge: every direct stream we open or serve, in our own terms.

``MeshNode.open_stream`` returns a ``Stream`` and ``MeshNode.handle`` hands
one to each handler. It is the one place where py-libp2p's stream exceptions
(resets, EOFs, muxer, connection and trio resource errors) are caught: a read
that meets the stream's clean end returns ``b""`` (the frame reader turns that
into ``StreamEnded``), any other failure is a ``StreamBroken``. So a protocol
sees only our errors: ``StreamBroken`` (the other side went away),
``DecodeError`` (it sent something bad), ``trio.TooSlowError`` (its own
deadline).

Closing and resetting are quiet, bounded and shielded (they run in
``finally`` blocks of cancelled code); ``finish`` is the polite end of a
served stream. ``request`` reads a handler's first frame and, when it is bad,
blames the sender (for a malformed frame only: a slow or vanished sender is
cut off, not penalised) and answers with the protocol's refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.stream_muxer.exceptions import MuxedStreamEOF

from hivemesh.errors import DecodeError, StreamBroken
from hivemesh.mesh import lazyselect, wire

M = TypeVar("M", bound=wire.Message)

#: what py-libp2p's streams raise when the other side or the connection goes away
_BROKEN = (BaseLibp2pError, trio.BrokenResourceError, trio.ClosedResourceError, OSError, EOFError)
_EOF = (StreamEOF, MuxedStreamEOF)
QUIET_S = 1.0  # a close or reset that takes longer is given up
MAX_TRAILING_BYTES = 64 * 1024

Penalize = Callable[[str, str], None]


def blames_sender(exc: BaseException) -> bool:
    """Bad input from the remote: a malformed or oversized frame. Not a stream
    that merely ended or broke (a peer that dies or hangs up mid-frame), nor
    one that missed its read deadline: an overloaded peer (or link) is slow,
    not hostile, and the deadline already cut it off (seen here: a gateway on
    a saturated core banned its own clients for slow submissions)."""
    return isinstance(exc, DecodeError) and not isinstance(exc, wire.StreamEnded)


def describe(exc: BaseException) -> str:
    """One line for a stream failure (trio's timeout has no message of its own)."""
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    return str(exc) or type(exc).__name__


def refused_protocol(exc: BaseException) -> bool:
    """A stream open failed because the peer answered but does not speak the
    protocol (it is reachable), as py-libp2p's negotiation or a lazy open says."""
    seen: BaseException | None = exc
    while seen is not None:
        if "protocol not supported" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Stream:
    """A py-libp2p stream seen through ``hivemesh.errors``. ``delay_s`` holds
    every write back that long (a slow simulated uplink, ``simulations.netdelay``).

    ``propose``: the stream was opened lazily (``lazyselect``): that protocol
    is proposed ahead of the first write, and the listener's answer is read
    and checked before the first read (a refusal is a ``StreamBroken``). On
    the listener's side of such a stream, the answer goes out ahead of the
    first write (or at the close)."""

    def __init__(self, raw: Any, delay_s: float = 0.0, propose: str = "") -> None:
        self.raw, self.delay_s = raw, delay_s
        self._buf = bytearray()  # read ahead: what one py-libp2p read brought beyond the caller's n
        self._unsent = lazyselect.proposal(propose) if propose else lazyselect.take_answer(raw)
        self._owed = propose  # the protocol whose selection is still to be read back

    @classmethod
    def of(cls, stream: Any) -> Stream:
        return stream if isinstance(stream, Stream) else cls(stream)

    @property
    def peer(self) -> str:
        """The remote peer's id ("?" when the stream has no connection)."""
        try:
            return str(self.raw.muxed_conn.peer_id)
        except AttributeError:
            return "?"

    # --- bytes and messages ----------------------------------------------------------

    async def read(self, n: int | None = None) -> bytes:
        if self._owed:
            await self._settle()
        return await self._read(n)

    async def _read(self, n: int | None = None) -> bytes:
        """Up to ``n`` bytes (all there are with None). One py-libp2p read
        takes whatever the stream holds, and later reads are served from it:
        a frame's length and body (and the frames behind it) cost one trip
        through py-libp2p's stream and muxer locks, not one per piece."""
        if not self._buf:
            try:
                data = await self.raw.read(None)
            except _EOF:
                return b""
            except _BROKEN as exc:
                raise StreamBroken(f"stream from {self.peer[-8:]} broke: {type(exc).__name__}: {exc}") from None
            if n is None or len(data) <= n:
                return data
            self._buf += data
        take = len(self._buf) if n is None else min(n, len(self._buf))
        out = bytes(self._buf[:take])
        del self._buf[:take]
        return out

    async def write(self, data: bytes) -> None:
        if self._unsent:  # a lazy open: the protocol goes out with the first frame, in one write
            data, self._unsent = self._unsent + data, b""
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)
        try:
            await self.raw.write(data)
        except _BROKEN as exc:
            raise StreamBroken(f"stream to {self.peer[-8:]} broke: {type(exc).__name__}: {exc}") from None

    async def _settle(self) -> None:
        """Read the listener's answer to a lazy proposal (sending it first if
        nothing was written yet)."""
        protocol, self._owed = self._owed, ""
        if self._unsent:
            await self.write(b"")
        own = _RawReads(self)
        try:
            header = (await wire.read_frame(own, lazyselect.MAX_LINE)).decode()
            echo = (await wire.read_frame(own, lazyselect.MAX_LINE)).decode()
            lazyselect.check_answer(header.removesuffix("\n"), echo.removesuffix("\n"), protocol)
        except (DecodeError, UnicodeDecodeError, lazyselect.Refused) as exc:
            raise StreamBroken(f"peer {self.peer[-8:]} did not select {protocol}: {exc}") from None

    async def receive(self, cls: type[M], timeout_s: float | None = None) -> M:
        """One ``cls`` message; ``trio.TooSlowError`` after ``timeout_s``."""
        if timeout_s is None:
            return await wire.read_message(self, cls)
        with trio.fail_after(timeout_s):
            return await wire.read_message(self, cls)

    async def send(self, msg: wire.Message) -> None:
        await wire.write_message(self, msg)

    async def request(self, cls: type[M], timeout_s: float, penalize: Penalize,
                      refuse: Callable[[str], wire.Message]) -> M | None:
        """A served stream's first message; or, when it is bad or late, None
        after the sender is blamed (a malformed frame only) and answered with
        ``refuse(reason)`` (the protocol's "bad request" reply)."""
        try:
            return await self.receive(cls, timeout_s)
        except (DecodeError, StreamBroken, trio.TooSlowError) as exc:
            if blames_sender(exc):
                penalize(self.peer, "malformed")
            try:
                await self.send(refuse(describe(exc)[:300]))
            except StreamBroken:
                pass  # it is gone: nobody to tell
            return None

    # --- ends ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close our side; quiet (it may be gone already), bounded, shielded.
        A listener's answer to a lazy proposal that nothing took along goes first."""
        with trio.CancelScope(shield=True), trio.move_on_after(QUIET_S):
            try:
                if self._unsent and not self._owed:
                    await self.write(b"")
                await self.raw.close()
            except Exception:  # the edge: whatever py-libp2p raises on a dead stream ends here
                pass

    async def reset(self) -> None:
        """Abort the stream both ways; quiet, bounded, shielded."""
        with trio.CancelScope(shield=True), trio.move_on_after(QUIET_S):
            try:
                await self.raw.reset()
            except Exception:  # the edge, as in ``close``
                pass

    async def finish(self, grace_s: float = 0.5, max_bytes: int = MAX_TRAILING_BYTES) -> None:
        """Close our side, give the remote a moment to close its side (dropping what
        it still sends), then reset: py-libp2p keeps a stream's bookkeeping until
        both sides are closed and its buffer read, so a peer that never closes
        would otherwise leak streams on us."""
        await self.close()
        with trio.move_on_after(grace_s):
            if await self.wait_closed(max_bytes):
                return
        await self.reset()

    async def wait_closed(self, max_bytes: int = MAX_TRAILING_BYTES) -> bool:
        """Return when the other side closes or resets the stream (True), or
        after it sent more than ``max_bytes`` of trailing bytes, which are
        read and dropped (False)."""
        extra = 0
        try:
            while extra <= max_bytes:
                data = await self.read(4096)
                if not data:
                    return True
                extra += len(data)
        except StreamBroken:
            return True
        return False


class _RawReads:
    """A lazy stream's reads below its own pending answer check."""

    def __init__(self, stream: Stream) -> None:
        self.read = stream._read
