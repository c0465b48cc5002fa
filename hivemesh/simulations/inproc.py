"""Simulated peers as trio tasks in this process: real py-libp2p on loopback,
real worker and gateway code, the simulated model backend.

A kill (like ``kill -9``, whose sockets the kernel closes) or a departure
closes the peer's connections, then cancels its scope. A killed gateway's
store handle dies first (``DeadOnKill``): a crashed process cannot release
its job leases on the way out, so neither may a killed in-process gateway;
its jobs are taken over when the leases lapse, as after a real crash.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import trio

from hivemesh.errors import StoreUnavailable
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer import inprocess
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.store import JobStore
from hivemesh.gateway.trust import TrustSettings
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan
from hivemesh.simulations.gossipmeter import meter
from hivemesh.simulations.liars import Lies, LyingModel
from hivemesh.simulations.netdelay import slow_down
from hivemesh.simulations.peers import SimPeer
from hivemesh.simulations.settings import SimSettings
from hivemesh.simulations.workload import WorkerModel

log = logging.getLogger(__name__)


class InProcessCluster:
    mode = "in-process"

    def __init__(self, nursery: trio.Nursery, settings: SimSettings, store: Any, plan: Plan) -> None:
        """``store()`` makes one gateway's ``JobStore`` (all share one backend)."""
        self.nursery, self.settings, self.make_store, self.plan = nursery, settings, store, plan
        self.bootstrap: list[str] = []
        self.lies = Lies()  # the liars scenario's lying texts

    def _config(self, **kw: Any) -> MeshConfig:
        s = self.settings
        assert s.advert_budget is not None
        return MeshConfig(generate(), bootstrap=self.bootstrap, advert_interval=s.advert_interval,
                          advert_budget=s.advert_budget, **kw)

    async def start_bootstrap(self) -> str:
        boot = await inprocess.start_bootstrap(self.nursery)
        self.bootstrap = [boot.node.full_addrs()[0]]
        return self.bootstrap[0]

    async def start_worker(self, name: str, model: WorkerModel) -> tuple[str, Any, int | None]:
        registry = ModelRegistry()
        liars = self.settings.scenario == "liars"  # workers of a capability share weights, so they check each other
        backend: Any = SimulatedModel(f"sim-{model.capability}" if liars else f"sim-{name}",
                                      latency_s=model.latency_s, tokens_per_second=model.tokens_per_second,
                                      reply_words=self.settings.reply_words)
        if model.liar:
            backend = LyingModel(backend, model.liar, self.lies, f"{self.settings.seed}/{name}")
        registry.add(backend, (model.capability,))
        running = await inprocess.start_worker(self.nursery, self._config(), registry, self.settings.slots,
                                               setup=lambda node: slow_down(node, model.added_latency_s))
        meter(running.node)
        return running.node.peer_id, running, None

    async def start_gateway(self, name: str) -> tuple[str, Any, int | None]:
        store = DeadOnKill(self.make_store())
        running = await inprocess.start_gateway(self.nursery, self._config(roles=()), store,  # type: ignore[arg-type]
                                                ScriptedPlanner([self.plan]), self._job_settings())
        running.extra["store"] = store
        meter(running.node)
        return running.node.peer_id, running, None

    def _job_settings(self) -> JobSettings | None:
        """The liars scenario's gateways check ``--check-share`` of a trusted worker's outputs;
        the others' gateways run the default (checks on, ``TrustSettings`` defaults)."""
        if self.settings.scenario != "liars":
            return None
        return JobSettings(trust=TrustSettings(trusted_share=self.settings.check_share))

    async def start_client(self) -> MeshNode:
        running = await inprocess.start_node(self.nursery, self._config(roles=(), advertise=False))
        return running.node

    async def stop(self, peer: SimPeer, kill: bool) -> None:
        running = peer.handle
        store = running.extra.get("store")
        if kill and store is not None:
            store.dead = True
        if kill and store is None and self.settings.slow_death > 0:
            self.nursery.start_soon(die_slowly, running, self.settings.slow_death)
            return
        await close_connections(running.node)
        running.stop()


    def refresh(self, peer: SimPeer) -> None:
        running = peer.handle
        node = running.node
        peer.stats.gossip = node.gossip_stats + getattr(node, "gossip_rpc", Counter())
        refused = getattr(node, "refused", None)  # newer nodes count refused streams
        if refused is not None:
            peer.stats.refused = Counter(refused)
        peer.stats.view = len(node.view.peers)
        if running.worker is not None:
            peer.stats.worker = running.worker.stats.copy()
        gateway = running.extra.get("gateway")
        if gateway is not None:
            peer.stats.gateway = gateway.stats.copy()

    async def aclose(self) -> None:
        self.nursery.cancel_scope.cancel()


async def close_connections(node: MeshNode, timeout: float = 1.0) -> None:
    """Hang up on every connected peer at once, as a dying process's kernel would."""
    async def one(peer: Any) -> None:
        try:
            await node.host.disconnect(peer)
        except Exception as exc:
            log.debug("disconnect on kill failed: %s", exc)

    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for peer in node.host.get_connected_peers():
                nursery.start_soon(one, peer)


async def die_slowly(running: Any, over_s: float) -> None:
    """A dying machine: the peer keeps working while its connections close one
    by one (and the ones it opens anew go the same way), then it stops."""
    node = running.node
    end = trio.current_time() + over_s
    while trio.current_time() < end:
        peers = node.host.get_connected_peers()
        if peers:
            try:
                await node.host.disconnect(peers[0])
            except Exception as exc:
                log.debug("disconnect on slow death failed: %s", exc)
        await trio.sleep(over_s / 8)
    await close_connections(node)
    running.stop()


class DeadOnKill:
    """A gateway's store handle that fails every call once its gateway is killed."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise StoreUnavailable("the gateway holding this store handle was killed")
            return attr(*args, **kwargs)

        return call
