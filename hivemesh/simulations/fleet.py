"""The simulated mesh's membership: start it, wait for it, kill and replace peers.

``Fleet`` owns the ``SimPeer`` list over the whole run (the dead included,
for the report) on top of a ``Cluster``; a killed or departed peer's slot is
filled by a fresh peer (new identity, new model draw) ``respawn_delay`` later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import trio

from hivemesh.mesh.node import MeshNode
from hivemesh.simulations.dists import Dist
from hivemesh.simulations.liars import kind_of
from hivemesh.simulations.peers import Cluster, SimPeer, peer_name
from hivemesh.simulations.settings import SimSettings
from hivemesh.simulations.workload import draw_worker, slow_slots

log = logging.getLogger(__name__)

SETTLE_ADVERTS = 1  # advert periods to wait after everyone sees everyone (each has published at its pace)
SETTLE_MAX_S = 30.0  # but no longer: a hundred peers on two cores advert every ~100 s


class Fleet:
    def __init__(self, cluster: Cluster, settings: SimSettings, capabilities: int) -> None:
        self.cluster, self.settings, self.capabilities = cluster, settings, capabilities
        self.peers: list[SimPeer] = []
        self.clients: list[MeshNode] = []
        self.slow = slow_slots(settings.workers, settings.slow_fraction, settings.seed)
        self._dists: tuple[Dist, Dist, Dist] = (settings.latency_dist(), settings.tps_dist(), settings.slow_dist())
        self.formed_in_s: float | None = None

    # --- membership ---------------------------------------------------------------

    def alive(self, role: str) -> list[SimPeer]:
        return [p for p in self.peers if p.role == role and p.alive]

    def by_peer_id(self, peer_id: str) -> SimPeer | None:
        return next((p for p in reversed(self.peers) if p.peer_id == peer_id), None)

    async def start(self) -> None:
        """Bootstrap, gateways, workers, clients; then wait until the views agree."""
        started = time.monotonic()
        await self.cluster.start_bootstrap()
        async with trio.open_nursery() as nursery:
            for slot in range(self.settings.gateways):
                nursery.start_soon(self.spawn, "gateway", slot, 0)
            for slot in range(self.settings.workers):
                nursery.start_soon(self.spawn, "worker", slot, 0)
        self.clients = [await self.cluster.start_client() for _ in range(self.settings.clients)]
        if await self.wait_formed(self.settings.join_timeout):
            self.formed_in_s = time.monotonic() - started
            await trio.sleep(min(SETTLE_ADVERTS * self.settings.advert_period, SETTLE_MAX_S))

    async def spawn(self, role: str, slot: int, generation: int) -> SimPeer:
        name = peer_name(role, slot, generation)
        model = None
        if role == "worker":
            latency, tps, slow = self._dists
            model = draw_worker(slot, generation, self.capabilities, latency, tps, slot in self.slow, slow,
                                self.settings.seed)
            if self.settings.scenario == "liars":
                model = replace(model, liar=kind_of(slot, self.settings.liars))
            peer_id, handle, pid = await self.cluster.start_worker(name, model)
        else:
            peer_id, handle, pid = await self.cluster.start_gateway(name)
        peer = SimPeer(name, role, slot, generation, peer_id, time.monotonic(), model, pid=pid, handle=handle)
        self.peers.append(peer)
        log.info("peer started name=%s peer_id=%s", name, peer_id)
        return peer

    async def stop(self, peer: SimPeer, kill: bool) -> None:
        peer.stopped_at, peer.stopped_how = time.monotonic(), "killed" if kill else "left"
        self.cluster.refresh(peer)
        await self.cluster.stop(peer, kill)
        log.info("peer %s name=%s peer_id=%s", peer.stopped_how, peer.name, peer.peer_id)

    async def replace(self, peer: SimPeer) -> None:
        """Start the next incarnation of ``peer``'s slot after the respawn delay."""
        await trio.sleep(self.settings.respawn_delay)
        generation = 1 + max(p.generation for p in self.peers if p.role == peer.role and p.slot == peer.slot)
        try:
            await self.spawn(peer.role, peer.slot, generation)
        except Exception as exc:  # a failed replacement is reported, not fatal
            log.warning("replacement for %s did not start: %s", peer.name, exc)

    # --- convergence ----------------------------------------------------------------

    def _settled(self) -> list[SimPeer]:
        """Live peers older than two advert lifetimes: every client should see them."""
        settled = time.monotonic() - 5 * self.settings.advert_interval
        return [p for p in self.peers if p.alive and p.started_at < settled]

    def missing_from_views(self) -> int:
        """Live peers (older than two advert lifetimes) that some client does not see."""
        live = {p.peer_id for p in self._settled()}
        return max((len(live - set(c.view.peers)) for c in self.clients), default=0)

    def missing_detail(self) -> list[str]:
        """For the log: each live, settled peer some client misses, with when that
        client last heard from it and the peer's own view size (its stats file)."""
        settled, now = self._settled(), time.time()  # the clients' clock (MeshConfig's default)
        out = []
        for i, client in enumerate(self.clients):
            for p in settled:
                if p.peer_id not in client.view.peers:
                    heard = client.view._heard_at.get(p.peer_id)
                    ago = f"{now - heard:.1f} s ago" if heard is not None else "never"
                    out.append(f"client {i} misses {p.name} (heard {ago}; its view {p.stats.view})")
        return out

    def _formed(self) -> bool:
        expected = {p.peer_id for p in self.peers if p.alive}
        if not all(expected <= set(c.view.peers) for c in self.clients):
            return False
        for gateway in self.alive("gateway"):
            self.cluster.refresh(gateway)
            if gateway.stats.view < len(expected):
                return False
        return True

    async def wait_formed(self, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while not self._formed():
                await trio.sleep(0.1)
            return True
        seen = min((len(c.view.peers) for c in self.clients), default=0)
        log.warning("mesh not formed after %.0fs: a client sees %d of %d peers", timeout, seen,
                    len([p for p in self.peers if p.alive]))
        return False

    def refresh_all(self) -> None:
        for peer in self.peers:
            if peer.alive:
                self.cluster.refresh(peer)
