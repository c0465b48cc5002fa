"""Buffered reads on py-libp2p's TCP connections (set at our boundary).

py-libp2p 0.8.1 reads a connection's bytes in small pieces: for each Noise
message a 2-byte length, then its body; for each Yamux frame a 12-byte
header, then its body. Each piece is one ``TrioTCPStream.read``: a lock and a
``receive_some``, two or three trips through trio's run queue. One task per
connection reads that way, so a busy loop caps a connection at a few dozen
frames a second, whatever the socket holds. Seen in the 100-kill in-process
run (``simulate --scenario kill-workers --slow-death 4``): gateway-to-worker
connections held 4-110 KB unread in the kernel (median 16 KB) while their
reader was busy, and stream opens on them waited 2-10 s for the remote's
multistream answer queued behind gossip frames.

``apply()`` gives ``TrioTCPStream.read`` a buffer: one ``receive_some`` of
up to ``CHUNK`` bytes, later reads served from the buffer without a trip
through the scheduler. The bytes and their order are unchanged; only the
number of socket reads (and scheduler trips) per frame goes down.
"""

from __future__ import annotations

from typing import Any

import trio

CHUNK = 64 * 1024


def apply() -> None:
    """Patch ``TrioTCPStream.read`` once (idempotent)."""
    from libp2p.io.trio import TrioTCPStream

    if getattr(TrioTCPStream, "hivemesh_buffered", False):
        return
    unbuffered = TrioTCPStream.read

    async def read(self: Any, n: int | None = None) -> bytes:
        if n is not None and n == 0:
            return b""
        buf: bytearray = self.__dict__.setdefault("_hivemesh_buf", bytearray())
        if not buf:  # a second reader (py-libp2p has one per connection) waits for the first
            lock = self.__dict__.get("_hivemesh_lock") or self.__dict__.setdefault("_hivemesh_lock", trio.Lock())
            async with lock:
                if not buf:
                    data = await unbuffered(self, CHUNK if n is None else max(n, CHUNK))
                    if n is None or len(data) <= n:
                        return data
                    buf += data
        take = len(buf) if n is None else min(n, len(buf))
        out = bytes(buf[:take])
        del buf[:take]
        return out

    TrioTCPStream.read = read  # type: ignore[method-assign]
    TrioTCPStream.hivemesh_buffered = True  # type: ignore[attr-defined]
