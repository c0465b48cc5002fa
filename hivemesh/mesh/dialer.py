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


def px_source(connected: int, target: int, rounds: int) -> str:
    """Whom round ``rounds`` asks for peers: "bootstrap", "neighbour" or "" (nobody).

    With fewer than ``target`` connections: the bootstraps, every round. Well
    connected: a neighbour every ``BOOTSTRAP_EVERY_ROUNDS`` rounds, over a
    connection it already has, and the bootstraps only every
    ``BOOTSTRAP_REFRESH_ROUNDS``: each bootstrap contact is a new connection on
    both sides (a handshake, identify, pubsub's stream attempts), which in an
    idle mesh of 20 peer processes was a sixth of each peer's CPU."""
    if connected < target or rounds % BOOTSTRAP_REFRESH_ROUNDS == 0:
        return "bootstrap"
    return "neighbour" if rounds % BOOTSTRAP_EVERY_ROUNDS == 0 else ""


class Dialer:
    def __init__(self, node: MeshNode) -> None:
        self.node = node
        self.bootstraps = [(text, parse_peer_addr(text), Backoff()) for text in node.config.bootstrap]
        self.joined = trio.Event()

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
        source = px_source(len(connected), node.config.target_peers, rounds)
        if not source:
            return
        reached = False
        for text, info, backoff in self.bootstraps if source == "bootstrap" else ():
            now = node.config.clock()
            if not backoff.due(now):
                continue
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await node.host.connect(info)
                await node.ask_px(str(info.peer_id))
                if str(info.peer_id) not in node.view.peers:
                    await node.hang_up(str(info.peer_id))  # a bootstrap is a rendezvous, not a neighbour
                if backoff.failures:
                    log.info("bootstrap reachable again %s", text)
                backoff.succeeded()
                reached = True
            except Exception as exc:
                wait = backoff.failed(now)
                log.warning("bootstrap unreachable %s (%s); retry in %.0fs", text, short_error(exc), wait)
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
