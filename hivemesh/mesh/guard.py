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

from hivemesh.mesh.stream import Stream

from hivemesh.mesh.inbound import connection_closed

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]

#: errors contained per protocol, for status and tests
contained: Counter[str] = Counter()


def connection_lost(raw: Any) -> bool:
    """Has the connection under py-libp2p stream ``raw`` closed (or begun to)?
    Then a broken stream says the peer (or the path to it) failed, not its work."""
    try:
        return connection_closed(raw.muxed_conn)
    except Exception:  # no connection object to ask: assume it stands
        return False


def guarded(protocol: str, handler: Handler, on_error: Callable[[Any, Exception], None] | None = None) -> Handler:
    """Wrap ``handler`` so that no exception leaves it (cancellation excepted)."""

    async def run(stream: Any) -> None:
        edge = Stream.of(stream)  # ours, or py-libp2p's own (identify, ping, pubsub)
        try:
            await handler(stream)
            await edge.finish()
        except Exception as exc:  # containment is the point; Cancelled is not an Exception
            contained[protocol] += 1
            log.warning(
                "contained error on %s from peer %s: %s: %s",
                protocol, edge.peer, type(exc).__name__, str(exc)[:200],
            )
            await edge.reset()
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
        pubsub._handle_dead_peer(Stream.of(stream).raw.muxed_conn.peer_id)

    for protocol in pubsub.protocols:
        host.set_stream_handler(protocol, guarded(str(protocol), pubsub.stream_handler, drop_peer))
