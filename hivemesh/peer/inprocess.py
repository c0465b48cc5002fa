"""Run peers as tasks in this process: for the demo, simulations and tests.

Each peer is assembled like any other (``assemble_peer``) and runs in its own
cancel scope inside the caller's nursery, so it can be stopped alone
(``Running.stop``), like a process that dies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.store import JobStore
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.models.registry import ModelRegistry
from hivemesh.peer.assemble import Peer, assemble_peer, serve_worker
from hivemesh.planner.base import Planner
from hivemesh.worker.worker import Worker

__all__ = ["Running", "serve_worker", "start_bootstrap", "start_gateway", "start_node", "start_peer",
           "start_worker"]


@dataclass
class Running:
    peer: Peer
    scope: trio.CancelScope
    extra: dict = field(default_factory=dict)

    @property
    def node(self) -> MeshNode:
        return self.peer.node

    @property
    def worker(self) -> Worker | None:
        return self.peer.worker

    def stop(self) -> None:
        self.scope.cancel()


async def start_peer(nursery: trio.Nursery, config: MeshConfig, **roles: Any) -> Running:
    """Start a peer with ``roles`` (``assemble_peer``'s keywords) in ``nursery``."""

    async def runner(task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            async with assemble_peer(config, **roles) as peer:
                running = Running(peer, scope)
                if peer.gateway is not None:
                    running.extra["gateway"] = peer.gateway
                task_status.started(running)
                await trio.sleep_forever()

    return await nursery.start(runner)


async def start_node(nursery: trio.Nursery, config: MeshConfig,
                     setup: Callable[[MeshNode], None] | None = None) -> Running:
    """A plain node; ``setup`` runs before it listens (register handlers there)."""
    return await start_peer(nursery, config, setup=setup)


async def start_bootstrap(nursery: trio.Nursery, listen: str = "/ip4/127.0.0.1/tcp/0") -> Running:
    config = MeshConfig(generate(), listen=[listen], gossip=False, advertise=False, roles=())
    return await start_node(nursery, config)


async def start_worker(nursery: trio.Nursery, config: MeshConfig, registry: ModelRegistry,
                       slots: int = 1, setup: Callable[[MeshNode], None] | None = None) -> Running:
    """A worker peer serving ``registry``'s models."""
    return await start_peer(nursery, config, registry=registry, slots=slots, setup=setup)


async def start_gateway(nursery: trio.Nursery, config: MeshConfig, store: JobStore, planner: Planner,
                        settings: JobSettings | None = None, registry: ModelRegistry | None = None,
                        slots: int = 1) -> Running:
    """A gateway-eligible peer (and a worker too when ``registry`` is given)."""
    return await start_peer(nursery, config, store=store, planner=planner, job_settings=settings,
                            registry=registry, slots=slots)
