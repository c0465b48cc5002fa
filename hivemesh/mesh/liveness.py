"""Is a peer whose adverts lapsed gone, or only late?

A node hangs up on a peer whose adverts stopped: a crashed or partitioned
peer's connection may stay half-open, and py-libp2p's pubsub would keep a
dead stream for it. But adverts also come late when the machines are busy
(the gossip is rate-limited, and a starved event loop publishes late), and
hanging up on a live peer breaks every stream the two have open: the
stage streams, the job streams and the worker-to-worker hand-offs at once.
Seen under load (`bench/gateway.py` at 2x its saturation rate): a worker hung
up on its downstream peer, its next hand-off found "no address", and a job
waited for an input that never came; a client hung up on a gateway and 20
job streams broke together. So before hanging up, the node pings the peer
(py-libp2p's `/ipfs/ping/1.0.0`, which every host serves) and keeps a
connection that answers, for a while: a late peer's next advert usually
comes within a few seconds. One that does not come back by then is hung up
on all the same: the connection was alive, but seen here, py-libp2p's pubsub
can stop passing a peer's gossip over a connection kept through a stall, and
only a new connection (which the next dial makes) brings its adverts back.
The peer leaves the view at once either way, so no new work goes to it
until its next advert.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from libp2p.host.ping import PingService
from libp2p.peer.id import ID

log = logging.getLogger(__name__)

#: how long a late peer has to answer a ping before its connection is closed
PING_TIMEOUT_S = 5.0
#: advert periods (as this peer's own, for the mesh it knows) a late peer that answers has for its next
#: advert before it is hung up on after all
KEEP_PERIODS = 4


async def answers(host: Any, peer_id: str, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """True when ``peer_id`` answers one ping on the open connection within ``timeout_s``."""
    pid = ID.from_base58(peer_id)
    if pid not in host.get_connected_peers():
        return False
    with trio.move_on_after(timeout_s):
        try:
            await PingService(host).ping(pid, 1)
            return True
        except Exception as exc:  # a reset, a closed connection, a bad pong: not alive for us
            log.debug("ping of %s failed: %s", peer_id[-8:], exc)
    return False


async def hang_up_unless_alive(host: Any, peer_id: str, hang_up: Callable[[str], Awaitable[None]],
                               back: Callable[[], bool], keep_s: float, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Hang up on ``peer_id`` unless it answers a ping and is ``back()`` (its
    advert came again) within ``keep_s``; True when hung up."""
    if await answers(host, peer_id, timeout_s):
        log.info("peer late but alive peer_id=%s: its adverts lapsed, it answers a ping; connection kept", peer_id)
        with trio.move_on_after(keep_s):
            while not back():
                await trio.sleep(min(0.25, keep_s / 4))
            return False
        log.info("peer still silent peer_id=%s %.0fs later; hanging up (a new connection renews its gossip)",
                 peer_id, keep_s)
    await hang_up(peer_id)
    return True
