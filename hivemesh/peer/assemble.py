"""Assembling a peer from its roles: one way for the daemon, the in-process
harness (demo, simulations) and the tests.

``assemble_peer`` builds the mesh node, gives it the worker role when it has
models (subtasks and pipeline stages) and the gateway role when it has a
store and a planner, runs them, and yields a typed ``Peer``. What the peer is
and offers while it runs (its roles, its advertised models and capacity) is
node state; the ``MeshConfig`` it was given is not changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from hivemesh.mesh.identity import peer_id_of
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.models.registry import ModelRegistry
from hivemesh.worker.checker import Checker
from hivemesh.worker.stages import StageRunner
from hivemesh.worker.worker import Worker

if TYPE_CHECKING:
    from hivemesh.gateway.gateway import Gateway
    from hivemesh.gateway.jobrun import JobSettings
    from hivemesh.gateway.store import JobStore
    from hivemesh.planner.base import Planner


@dataclass
class Peer:
    node: MeshNode
    worker: Worker | None = None
    stages: StageRunner | None = None
    gateway: Gateway | None = None
    http_url: str | None = None  # the OpenAI-compatible API, with --http (set by the daemon)
    metrics: Any = None  # PeerMetrics, with --metrics (set by the daemon)

    @property
    def peer_id(self) -> str:
        return self.node.peer_id


def serve_worker(node: MeshNode, worker: Worker) -> StageRunner:
    """Give ``node`` the worker role: pipeline stages and checks."""
    node.advert_fields = worker.advert_fields
    stages = StageRunner(worker, node)
    stages.install()
    Checker(worker, node).install()  # /hivemesh/check/1: score another peer's output on the same weights
    node.stages = stages  # type: ignore[attr-defined]
    return stages


@asynccontextmanager
async def assemble_peer(
    config: MeshConfig,
    *,
    registry: ModelRegistry | None = None,
    slots: int = 1,
    store: JobStore | None = None,
    planner: Planner | None = None,
    job_settings: JobSettings | None = None,
    setup: Callable[[MeshNode], None] | None = None,
) -> AsyncIterator[Peer]:
    """Run a peer with the roles its arguments give it: a worker with
    ``registry``, a gateway with ``store`` and ``planner``, else a plain mesh
    node (bootstrap, observer). ``setup(node)`` runs first, before any handler
    is registered and before the node listens."""
    if (store is None) != (planner is None):
        raise ValueError("a gateway needs both a store and a planner")
    node = MeshNode(config)
    if setup is not None:  # first: it may wrap how handlers are registered (simulated slow links)
        setup(node)
    peer = Peer(node)
    if registry is not None:
        peer.worker = Worker(registry, peer_id_of(config.keypair), slots)
        peer.stages = serve_worker(node, peer.worker)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(node.run())
        if peer.stages is not None:  # the worker's loop-lag ticker (stage deadlines allow for lag)
            tasks = await stack.enter_async_context(trio.open_nursery())
            stack.callback(tasks.cancel_scope.cancel)
            await tasks.start(peer.stages.lag.run)
        if store is not None and planner is not None:
            from hivemesh.gateway.gateway import Gateway

            peer.gateway = await stack.enter_async_context(Gateway(node, store, planner, job_settings).run())
        yield peer
