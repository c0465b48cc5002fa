"""Whom a node dials, and when: bootstraps, peers from its view and from peer exchange.

``Dialer`` keeps a node near ``target_peers`` connections. It asks the
bootstraps for peers when it has few (and, well connected, every 60 rounds;
a neighbour every 10: ``px_source``), backing off from a bootstrap that does
not answer, and falls back to any neighbour for peer exchange once the
bootstraps are gone. A bootstrap is a rendezvous, not a
neighbour: it is hung up on once it has answered.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import trio

from hivemesh.errors import HivemeshError
from hivemesh.mesh.addrs import Backoff, dial_addr, parse_peer_addr

if TYPE_CHECKING:
    from hivemesh.mesh.node import MeshNode

log = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 5.0
BOOTSTRAP_EVERY_ROUNDS = 10
#: a well-connected node asks its bootstraps this seldom (a partitioned mesh heals through them)
BOOTSTRAP_REFRESH_ROUNDS = 60
#: a node with no connection asks its bootstraps at least this often
ALONE_GAP_ROUNDS = 4


def bootstrap_gap(fruitless: int, connected: int) -> int:
    """Rounds between bootstrap asks for a node short of peers: 1, doubling with
    each fruitless ask in a row (one that named no peer we were not connected
    to), up to ``BOOTSTRAP_REFRESH_ROUNDS``, or ``ALONE_GAP_ROUNDS`` for a node
    with no connection at all."""
    cap = ALONE_GAP_ROUNDS if connected == 0 else BOOTSTRAP_REFRESH_ROUNDS
    return min(2 ** min(fruitless, 16), cap)


def px_source(connected: int, target: int, rounds: int, fruitless: int = 0, since_ask: int | None = None) -> str:
    """Whom round ``rounds`` asks for peers: "bootstrap", "neighbour" or "" (nobody).

    With fewer than ``target`` connections: the bootstraps, every round while
    they name peers we lack, then ever more seldom (``bootstrap_gap``; a mesh
    smaller than ``target`` is short of peers for good, and each of its peers
    dialled and hung up on its bootstrap every round, 2 s apart).
    ``since_ask``: rounds since this node last asked them (None: never). Well
    connected: a neighbour every ``BOOTSTRAP_EVERY_ROUNDS`` rounds, over a
    connection it already has, and the bootstraps only every
    ``BOOTSTRAP_REFRESH_ROUNDS``: each bootstrap contact is a new connection on
    both sides (a handshake, identify, pubsub's stream attempts), which in an
    idle mesh of 20 peer processes was a sixth of each peer's CPU."""
    if connected < target:
        if since_ask is None or since_ask >= bootstrap_gap(fruitless, connected):
            return "bootstrap"
    elif rounds % BOOTSTRAP_REFRESH_ROUNDS == 0:
        return "bootstrap"
    return "neighbour" if rounds % BOOTSTRAP_EVERY_ROUNDS == 0 else ""


class Dialer:
    def __init__(self, node: MeshNode) -> None:
        self.node = node
        self.bootstraps = [(text, parse_peer_addr(text), Backoff()) for text in node.config.bootstrap]
        self.joined = trio.Event()
        self.fruitless = 0  # bootstrap asks in a row that named no peer we lacked
        self.asked_round: int | None = None  # the round we last asked the bootstraps
        self.was_connected = 0
        self.boot_ids = {str(info.peer_id) for _, info, _ in self.bootstraps}
        self.named: set[str] = set()  # peers the bootstraps have named to us (a peer named again is no news)

    async def dial_any(self, peer_id: str, addrs: tuple[str, ...] | list[str]) -> str:
        """"" once connected; else why not: "no address", "timeout" (every
        address only timed out) or "refused" (some address said no)."""
        outcome = "no address"
        for addr in addrs:
            try:
                info = dial_addr(addr, peer_id)
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await self.node.host.connect(info)
                return ""
            except trio.TooSlowError:
                outcome = "timeout" if outcome != "refused" else outcome
            except Exception as exc:
                outcome = "refused"
                log.debug("dial %s at %s failed: %s", peer_id, addr, exc)
        return outcome

    async def run(self) -> None:
        node, rounds = self.node, 0
        while True:
            await self._bootstrap_round(rounds)
            await self._dial_known()
            if node.connected_peers() and not self.joined.is_set():
                log.info("joined mesh peer_id=%s connected=%d", node.peer_id, len(node.connected_peers()))
                self.joined.set()
            rounds += 1
            await trio.sleep(min(node.config.advert_interval, 2.0))

    async def _bootstrap_round(self, rounds: int) -> None:
        """Ask bootstraps for peers when we have few, and every 10 rounds."""
        node = self.node
        connected = set(node.connected_peers())
        neighbours = len(connected - self.boot_ids)  # a bootstrap we have not hung up on yet is no neighbour
        if neighbours < self.was_connected:
            self.fruitless, self.named = 0, set()  # a peer left: the bootstraps may know a replacement
        self.was_connected = neighbours
        since = None if self.asked_round is None else rounds - self.asked_round
        source = px_source(len(connected), node.config.target_peers, rounds, self.fruitless, since)
        if not source:
            return
        if source == "bootstrap":
            self.asked_round = rounds
        reached, learned = False, False
        for text, info, backoff in self.bootstraps if source == "bootstrap" else ():
            now = node.config.clock()
            if not backoff.due(now):
                continue
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await node.host.connect(info)
                named = await node.ask_px(str(info.peer_id))
                fresh = {p.peer_id for p in named} - connected - node.banned() - self.named
                fresh -= {node.peer_id, str(info.peer_id)}
                learned = learned or bool(fresh)
                self.named |= fresh
                if str(info.peer_id) not in node.view.peers:
                    await node.hang_up(str(info.peer_id))  # a bootstrap is a rendezvous, not a neighbour
                if backoff.failures:
                    log.info("bootstrap reachable again %s", text)
                backoff.succeeded()
                reached = True
            except Exception as exc:
                wait = backoff.failed(now)
                log.warning("bootstrap unreachable %s (%s); retry in %.0fs", text, short_error(exc), wait)
        if reached:
            self.fruitless = 0 if learned else self.fruitless + 1
        if not reached and connected and (source == "neighbour" or rounds % BOOTSTRAP_EVERY_ROUNDS == 0):
            try:  # well connected, or the bootstraps are gone: any peer serves peer exchange too
                await node.ask_px(random.choice(sorted(connected)))
            except (HivemeshError, trio.TooSlowError) as exc:  # ask_px speaks only our errors (mesh.stream)
                log.debug("peer exchange with a neighbour failed: %s", exc)

    async def _dial_known(self) -> None:
        node = self.node
        connected = set(node.connected_peers())
        want = node.config.target_peers - len(connected)
        if want <= 0:
            return
        candidates = {e.peer_id: e.advert.addrs for e in node.view.live()}
        for peer in node.px_table.peers():
            candidates.setdefault(peer.peer_id, peer.addrs)
        skip = connected | node.banned() | {node.peer_id}  # a banned peer is never dialled (nor redialled after a hang-up)
        fresh = [(p, a) for p, a in candidates.items() if p not in skip]
        random.shuffle(fresh)
        async with trio.open_nursery() as nursery:
            for peer_id, addrs in fresh[:want]:
                nursery.start_soon(self.dial_any, peer_id, addrs)


def short_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:120]
