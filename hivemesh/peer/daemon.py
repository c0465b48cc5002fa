"""The peer daemon: a mesh node plus the roles it was started with."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hivemesh.config import Settings
from hivemesh.mesh import identity
from hivemesh.mesh.node import AdvertFields, MeshConfig, MeshNode

log = logging.getLogger(__name__)


def peer_config(settings: Settings, advert_fields: AdvertFields | None = None) -> MeshConfig:
    roles = ("worker", "gateway") if settings.gateway else ("worker",)
    config = MeshConfig(
        keypair=identity.load_or_create(settings.identity_path("peer")),
        listen=settings.listen,
        bootstrap=settings.bootstrap,
        advert_interval=settings.advert_interval,
        target_peers=settings.target_peers,
        roles=roles,
    )
    if advert_fields is not None:
        config.advert_fields = advert_fields
    return config


@asynccontextmanager
async def run_peer(settings: Settings) -> AsyncIterator[MeshNode]:
    node = MeshNode(peer_config(settings))
    async with node.run():
        yield node
