"""py-libp2p settings chosen at our boundary (never by editing py-libp2p).

Yamux window updates: py-libp2p 0.8.1 by default (``PY_YAMUX_RELEASE_ON_READ=1``)
answers every read on a stream with a WINDOW_UPDATE frame for the bytes read,
so each gossip RPC and each stream message a peer receives costs a frame back
(built, encrypted, written): in an idle mesh of peer processes these frames
were about a tenth of each peer's CPU. With the variable at 0 it grants credit
as go-yamux does, in one update once half the receive window is consumed:
the same flow control, fewer frames. py-libp2p reads the variable at call
time; a value already in the environment is kept.

The host's addresses: py-libp2p puts our signed peer record in every pubsub
RPC it sends (each forwarded advert copy, each replay to a new neighbour,
each control message) and rebuilds our address list for it each time,
parsing every listen multiaddr afresh (~1 ms of CPU per RPC here: a sixth of
a gateway process's CPU in a 10-peer mesh of processes). ``cache_addrs``
keeps the list for ``ADDRS_TTL_S``.
"""

from __future__ import annotations

import os
import time
from typing import Any

LIBP2P_ENV = {"PY_YAMUX_RELEASE_ON_READ": "0"}
#: gossipsub's mesh degree (target, low, high): every advert copy a peer forwards costs it
#: and its neighbour an RPC each (framing, encryption, a signed-record check), so an idle
#: peer's CPU grows with the degree times the mesh's advert rate. 20 idle peer processes,
#: 2 adverts/s from the mesh: 12.6 RPCs/s out per peer at (4, 3, 8) against 74 at (6, 4, 12)
#: and 10 adverts/s (1.2% of a core against 6.5%); adverts are signed and refreshed, so a
#: copy lost to the thinner mesh costs a view nothing until 2.5 periods pass
GOSSIP_DEGREE = (4, 3, 8)
#: seconds between gossipsub heartbeats. Each heartbeat sends IHAVE (the ids of recent
#: messages) to at least 6 peers outside the mesh whenever any advert arrived lately, which
#: with 100 peers was as many RPCs as the advert copies themselves; the mesh repairs itself
#: at this pace too, and adverts live for minutes
GOSSIP_HEARTBEAT_S = 3
ADDRS_TTL_S = 2.0  # our listen addresses change when a listener starts or stops, not per message


def apply() -> None:
    """Set our py-libp2p settings (idempotent); call before the first connection."""
    for name, value in LIBP2P_ENV.items():
        os.environ.setdefault(name, value)


def cache_addrs(host: Any, ttl_s: float = ADDRS_TTL_S) -> None:
    """Make ``host.get_addrs()`` reuse its answer for ``ttl_s`` (an instance
    attribute: py-libp2p itself is untouched). A copy each call: callers may
    change the list."""
    if getattr(host, "hivemesh_addrs_cached", False):
        return
    compute = host.get_addrs
    cached: list[Any] = []
    until = [0.0]

    def get_addrs() -> list[Any]:
        now = time.monotonic()
        if now >= until[0] or not cached:
            cached[:] = compute()
            until[0] = now + ttl_s
        return list(cached)

    host.get_addrs = get_addrs
    host.hivemesh_addrs_cached = True
