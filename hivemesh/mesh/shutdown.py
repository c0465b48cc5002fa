"""Close a py-libp2p host's sockets when it stops.

py-libp2p 0.8.1's swarm closes its listeners and connections in a ``finally``
that is not shielded: when the host is stopped by cancellation (a peer task
cancelled, Ctrl-C, a test ending) its first ``await`` raises ``Cancelled`` and
the rest is skipped. The TCP listener lives in a trio system task, so it
outlives the host: a stopped peer kept accepting connections and
half-finishing handshakes, and peers dialling it hung instead of being
refused; and its open connections stayed up until the other side timed them
out. ``close_sockets`` does that cleanup itself, shielded and bounded.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

log = logging.getLogger(__name__)


async def close_sockets(host: Any, timeout: float = 2.0) -> None:
    swarm = host.get_network()
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        for listener in list(getattr(swarm, "listeners", {}).values()):
            try:
                await listener.close()
            except Exception as exc:
                log.debug("closing a listener on shutdown failed: %s", exc)
        for conns in list(getattr(swarm, "connections", {}).values()):
            for conn in list(conns):
                try:
                    await conn.close()  # a no-op when the swarm's cancelled close began it
                    await conn.muxed_conn.close()  # so close the socket under it ourselves
                except Exception as exc:
                    log.debug("closing a connection on shutdown failed: %s", exc)
