"""Containment at our boundary: no remote peer's bytes may end the process.

py-libp2p runs stream handlers in the swarm's nursery, so an exception that
escapes a handler ends the whole host. ``guarded`` wraps every handler we
register; ``protect_pubsub`` re-registers py-libp2p's own pubsub handler the
same way, because 0.8.1 lets protobuf's DecodeError escape it (one 6-byte
frame on /meshsub/1.1.0 used to kill the peer).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from hivemesh.mesh.inbound import connection_closed

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]

#: errors contained per protocol, for status and tests
contained: Counter[str] = Counter()


def remote_peer(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:
        return "?"


def connection_lost(stream: Any) -> bool:
    """Has the connection under ``stream`` closed (or begun to)? Then a
    broken stream says the peer (or the path to it) failed, not its work."""
    try:
        return connection_closed(stream.muxed_conn)
    except Exception:
        return False


async def close(stream: Any) -> None:
    with trio.move_on_after(1):
        try:
            await stream.close()
        except Exception:
            pass


async def finish(stream: Any, grace_s: float = 0.5, max_bytes: int = 64 * 1024) -> None:
    """Close our side, give the remote a moment to close its side (dropping what
    it still sends), then reset: py-libp2p keeps a stream's bookkeeping until
    both sides are closed and its buffer read, so a peer that never closes
    would otherwise leak streams on us."""
    await close(stream)
    drained = 0
    with trio.move_on_after(grace_s):
        try:
            while drained <= max_bytes:
                data = await stream.read(4096)
                if not data:
                    return
                drained += len(data)
        except Exception:
            return  # reset or closed by the remote: nothing left to free
    await reset(stream)


async def reset(stream: Any) -> None:
    with trio.move_on_after(1):
        try:
            await stream.reset()
        except Exception:
            pass


def blames_sender(exc: BaseException) -> bool:
    """Bad input from the remote: a malformed or oversized frame. Not a stream
    that merely ended (a peer that dies or hangs up mid-frame), nor one that
    missed its read deadline: an overloaded peer (or link) is slow, not
    hostile, and the deadline already cut it off (seen here: a gateway on a
    saturated core banned its own clients for slow submissions)."""
    from hivemesh.errors import DecodeError
    from hivemesh.mesh.wire import StreamEnded

    return isinstance(exc, DecodeError) and not isinstance(exc, StreamEnded)


def guarded(protocol: str, handler: Handler, on_error: Callable[[Any, Exception], None] | None = None) -> Handler:
    """Wrap ``handler`` so that no exception leaves it (cancellation excepted)."""

    async def run(stream: Any) -> None:
        try:
            await handler(stream)
            await finish(stream)
        except Exception as exc:  # containment is the point; Cancelled is not an Exception
            contained[protocol] += 1
            log.warning(
                "contained error on %s from peer %s: %s: %s",
                protocol, remote_peer(stream), type(exc).__name__, str(exc)[:200],
            )
            await reset(stream)
            if on_error is not None:
                try:
                    on_error(stream, exc)
                except Exception:
                    log.debug("on_error hook failed", exc_info=True)

    run.hivemesh_guarded = True  # type: ignore[attr-defined]
    return run


def protect_all(host: Any) -> int:
    """Wrap every stream handler registered on ``host`` that is not wrapped yet
    (py-libp2p's identify, identify-push and ping included); returns how many."""
    wrapped = 0
    for protocol, handler in list(host.get_mux().handlers.items()):
        if protocol is None or handler is None or getattr(handler, "hivemesh_guarded", False):
            continue
        host.set_stream_handler(protocol, guarded(str(protocol), handler))
        wrapped += 1
    return wrapped


def protect_pubsub(host: Any, pubsub: Any) -> None:
    """Re-register pubsub's stream handlers behind ``guarded``."""

    def drop_peer(stream: Any, exc: Exception) -> None:
        pubsub._handle_dead_peer(stream.muxed_conn.peer_id)

    for protocol in pubsub.protocols:
        host.set_stream_handler(protocol, guarded(str(protocol), pubsub.stream_handler, drop_peer))
