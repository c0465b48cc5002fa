"""The peer daemon (``hivemesh peer``): settings to models, store and planner,
then ``assemble_peer`` like every other peer."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from libp2p.crypto.keys import KeyPair

from hivemesh.config import Settings
from hivemesh.errors import ConfigError, HivemeshError
from hivemesh.mesh import identity
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.sources import ModelSpec, load_model
from hivemesh.peer.assemble import Peer, assemble_peer
from hivemesh.api.metrics import served_metrics
from hivemesh.api.server import gateway_api
from hivemesh.gateway.jobrun import blocking, job_settings
from hivemesh.gateway.store import JobStore, open_store
from hivemesh.planner.base import Planner
from hivemesh.planner.select import load_planner_model, make_planner

log = logging.getLogger(__name__)


def default_slots() -> int:
    """One subtask per two cores: llama.cpp is memory-bound past that."""
    return max(1, (os.cpu_count() or 2) // 2)


def peer_config(settings: Settings, keypair: KeyPair | None = None, worker: bool = True) -> MeshConfig:
    roles = ("worker",) if worker else ()
    return MeshConfig(
        keypair=keypair or identity.load_or_create(settings.identity_path("peer")),
        listen=settings.listen,
        bootstrap=settings.bootstrap,
        advert_interval=settings.advert_interval,
        advert_budget=settings.advert_budget,
        target_peers=settings.target_peers,
        roles=roles,
        psk=settings.psk(),
    )


def load_registry(settings: Settings) -> ModelRegistry:
    """Load the ``--model`` models (the bundled one for ``general`` if none)
    and the ``--tools`` (math, join by default)."""

    def loader(spec: ModelSpec) -> object:
        if spec.kind not in ("sim", "tool"):
            given = dict(spec.options)
            extra = {"ctx": str(settings.n_ctx), "gpu_layers": str(settings.n_gpu_layers)}
            spec = replace(spec, options=spec.options + tuple((k, v) for k, v in extra.items() if k not in given))
        return load_model(spec, n_threads=settings.threads or None)

    return ModelRegistry.from_args(settings.models, loader=loader, tools=settings.tool_list())  # type: ignore[arg-type]


def open_gateway_store(settings: Settings) -> JobStore:
    """The gateway's store; a clear error when it is not configured or not reachable."""
    if not settings.redis:
        raise ConfigError("--gateway needs --redis URL (e.g. redis://127.0.0.1:6379/0)")
    store = open_store(settings.redis)
    try:
        store.ping()
    except HivemeshError:
        store.close()
        raise
    return store


@asynccontextmanager
async def run_peer(
    settings: Settings,
    registry: ModelRegistry | None = None,
    *,
    keypair: KeyPair | None = None,
    store: JobStore | None = None,
    planner: Planner | None = None,
    worker: bool = True,
) -> AsyncIterator[Peer]:
    """Load models, measure them, join the mesh, serve subtasks and, when
    gateway-eligible, jobs. ``store``/``planner`` override what settings name."""
    if settings.gateway and store is None:
        store = await blocking(open_gateway_store, settings)
    if worker and registry is None:
        registry = await blocking(load_registry, settings)
    try:
        if settings.gateway and planner is None:
            planner = await make_planner(settings, await blocking(load_planner_model, settings))
        if registry is not None:
            await blocking(registry.warm_up)
        gateway = {"store": store, "planner": planner, "job_settings": job_settings(settings)} if (
            store is not None and planner is not None) else {}
        async with assemble_peer(peer_config(settings, keypair, worker), registry=registry,
                                 slots=settings.slots or default_slots(), **gateway) as peer, \
                served_metrics(settings.metrics, peer.node, peer.worker) as metrics:
            peer.metrics = metrics
            if peer.gateway is not None:
                async with gateway_api(settings, peer.gateway, metrics.http_status if metrics else None) as url:
                    if metrics is not None:
                        metrics.attach(peer.node, peer.worker, peer.gateway)
                    peer.http_url = url
                    yield peer
            else:
                yield peer
    finally:
        if registry is not None:
            registry.close()
        if store is not None:
            store.close()
