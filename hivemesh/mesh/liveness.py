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

A peer hung up on may dial back (or be dialled: it is still in its
neighbours' views and peer exchange), and a connection without adverts
never expires from the view, so it stayed open for good: seen in the CI
run of 2026-12-03, a mute peer (no adverts, no answer to a ping) hung up on
at 1.9 s was connected again at 2.3 s and for the rest of the test.
``Unheard`` covers every connected peer with no advert in the view: one
hung up on for silence is pinged again ``KEEP_PERIODS`` after it
reconnects; any other (a client, a bootstrap, a peer that never adverted)
after ``UNHEARD_GRACE_S`` and then as often; a peer that does not answer is
hung up on, so a dead client's half-open connection does not stay either.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
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
#: a connected peer that never adverted is first pinged after this long, and again as often while it stays unheard
UNHEARD_GRACE_S = 60.0
#: how long a peer hung up on for silence stays a suspect: pinged soon when it connects again unheard
SUSPECT_S = 300.0


class Unheard:
    """Connected peers with no advert in the view, and which of them are due a
    ping (plain: times come from the caller)."""

    def __init__(self) -> None:
        self.since: dict[str, float] = {}  # peer -> since when it is connected and unheard, or its last check ended
        self.busy: set[str] = set()  # checks under way (this one or the expiry's)
        self.suspects: dict[str, float] = {}  # peer -> when hung up on for silence

    def due(self, connected: set[str], heard: Collection[str], now: float, keep_s: float) -> list[str]:
        """The peers to ping now, marked busy until ``done``. A peer connected
        and unheard for ``keep_s`` (a suspect) or ``UNHEARD_GRACE_S`` (any other),
        and not checked within that long."""
        for pid in [p for p in self.since if p not in connected or p in heard]:
            del self.since[pid]  # gone or heard: a later connection starts over
        self.suspects = {p: t for p, t in self.suspects.items() if now - t <= SUSPECT_S}
        due = []
        for pid in sorted(connected.difference(heard)):
            since = self.since.setdefault(pid, now)
            wait = keep_s if pid in self.suspects else UNHEARD_GRACE_S
            if pid not in self.busy and now - since >= wait:
                self.busy.add(pid)
                due.append(pid)
        return due

    def done(self, peer_id: str, now: float, hung_up: bool) -> None:
        self.busy.discard(peer_id)
        if peer_id in self.since:
            self.since[peer_id] = now  # the wait starts over from the check's end
        if hung_up:
            self.suspects[peer_id] = now


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


async def hang_up_unless_answers(host: Any, peer_id: str, hang_up: Callable[[str], Awaitable[None]],
                                 timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Hang up on a connected peer we hear no adverts from unless it answers a ping; True when hung up."""
    if await answers(host, peer_id, timeout_s):
        return False
    log.info("connected peer unheard and not answering peer_id=%s; hanging up", peer_id)
    await hang_up(peer_id)
    return True


async def tracked(unheard: Unheard, clock: Callable[[], float], peer_id: str, check: Awaitable[bool]) -> None:
    """Run one check of ``peer_id`` (True: hung up on) and tell ``unheard`` when it ended."""
    hung_up = False
    try:
        hung_up = await check
    finally:
        unheard.done(peer_id, clock(), hung_up)
