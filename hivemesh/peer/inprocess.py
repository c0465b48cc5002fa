"""Run peers as tasks in this process: for the demo, simulations and tests.

Each peer runs in its own cancel scope inside the caller's nursery, so it can
be stopped alone (``Running.stop``), like a process that dies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.models.registry import ModelRegistry
from hivemesh.worker import protocol
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.worker.checker import Checker
from hivemesh.worker.stages import StageRunner
from hivemesh.gateway.store import JobStore
from hivemesh.worker.worker import Worker
from hivemesh.planner.base import Planner


@dataclass
class Running:
    node: MeshNode
    scope: trio.CancelScope
    worker: Worker | None = None
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        self.scope.cancel()


async def start_node(nursery: trio.Nursery, config: MeshConfig,
                     setup: Callable[[MeshNode], None] | None = None) -> Running:
    """Start a node; ``setup`` runs before it listens (register handlers there)."""

    async def runner(task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            node = MeshNode(config)
            if setup is not None:
                setup(node)
            async with node.run():
                task_status.started(Running(node, scope))
                await trio.sleep_forever()

    return await nursery.start(runner)


async def start_bootstrap(nursery: trio.Nursery, listen: str = "/ip4/127.0.0.1/tcp/0") -> Running:
    config = MeshConfig(generate(), listen=[listen], gossip=False, advertise=False, roles=())
    return await start_node(nursery, config)


async def start_worker(nursery: trio.Nursery, config: MeshConfig, registry: ModelRegistry,
                       slots: int = 1, max_queue: int | None = None) -> Running:
    """A node serving ``/hivemesh/task/1`` with ``registry``'s models."""
    worker = Worker(registry, peer_id_of(config.keypair), slots, max_queue)
    config.advert_fields = worker.advert_fields
    running = await start_node(nursery, config, lambda node: serve_worker(node, worker))
    running.worker = worker
    return running


def serve_worker(node: MeshNode, worker: Worker) -> StageRunner:
    """Register the worker protocols: single subtasks and pipeline stages."""
    node.handle(protocol.PROTOCOL, worker.handle_stream)
    worker.penalize = node.penalize
    stages = StageRunner(worker, node)
    stages.install()
    Checker(worker, node).install()
    node.stages = stages  # type: ignore[attr-defined]
    return stages


async def start_gateway(nursery: trio.Nursery, config: MeshConfig, store: JobStore, planner: Planner,
                        settings: JobSettings | None = None, registry: ModelRegistry | None = None,
                        slots: int = 1) -> Running:
    """A gateway-eligible node (and a worker too when ``registry`` is given)."""
    from hivemesh.gateway.gateway import Gateway

    async def runner(task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            worker = None
            if registry is not None:
                worker = Worker(registry, peer_id_of(config.keypair), slots)
                config.advert_fields = worker.advert_fields
            node = MeshNode(config)
            if worker is not None:
                serve_worker(node, worker)
            async with node.run(), Gateway(node, store, planner, settings).run() as gateway:
                running = Running(node, scope, worker)
                running.extra["gateway"] = gateway
                task_status.started(running)
                await trio.sleep_forever()

    return await nursery.start(runner)
