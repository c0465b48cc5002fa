"""A bootstrap peer relays nothing: no gossip, no adverts, only peer exchange."""

from __future__ import annotations

from hivemesh.config import Settings
from hivemesh.mesh import identity
from hivemesh.mesh.node import MeshConfig


def bootstrap_config(settings: Settings) -> MeshConfig:
    return MeshConfig(
        keypair=identity.load_or_create(settings.identity_path("bootstrap")),
        listen=settings.listen,
        bootstrap=settings.bootstrap,
        advert_interval=settings.advert_interval,
        roles=(),
        gossip=False,
        advertise=False,
        psk=settings.psk(),
    )
