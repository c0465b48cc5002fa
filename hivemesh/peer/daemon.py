"""The peer daemon: a mesh node, its models and the worker role."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import trio

from hivemesh.config import Settings
from hivemesh.mesh import identity
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.sources import ModelSpec, load_model
from hivemesh.peer import protocol
from hivemesh.peer.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Peer:
    node: MeshNode
    worker: Worker
    registry: ModelRegistry


def default_slots() -> int:
    """One subtask per two cores: llama.cpp is memory-bound past that."""
    return max(1, (os.cpu_count() or 2) // 2)


def peer_config(settings: Settings) -> MeshConfig:
    roles = ("worker", "gateway") if settings.gateway else ("worker",)
    return MeshConfig(
        keypair=identity.load_or_create(settings.identity_path("peer")),
        listen=settings.listen,
        bootstrap=settings.bootstrap,
        advert_interval=settings.advert_interval,
        target_peers=settings.target_peers,
        roles=roles,
    )


def load_registry(settings: Settings) -> ModelRegistry:
    """Load the ``--model`` models (the bundled one for ``general`` if none)."""

    def loader(spec: ModelSpec) -> object:
        if spec.kind != "sim":
            given = dict(spec.options)
            extra = {"ctx": str(settings.n_ctx), "gpu_layers": str(settings.n_gpu_layers)}
            spec = replace(spec, options=spec.options + tuple((k, v) for k, v in extra.items() if k not in given))
        return load_model(spec, n_threads=settings.threads or None)

    return ModelRegistry.from_args(settings.models, loader=loader)  # type: ignore[arg-type]


@asynccontextmanager
async def run_peer(settings: Settings, registry: ModelRegistry | None = None) -> AsyncIterator[Peer]:
    """Load models, measure them, join the mesh and serve subtasks."""
    if registry is None:
        registry = await trio.to_thread.run_sync(load_registry, settings)
    try:
        await trio.to_thread.run_sync(registry.warm_up)
        node = MeshNode(peer_config(settings))
        worker = Worker(registry, node.peer_id, settings.slots or default_slots())
        node.config.advert_fields = worker.advert_fields
        node.handle(protocol.PROTOCOL, worker.handle_stream)
        async with node.run():
            yield Peer(node, worker, registry)
    finally:
        registry.close()
