"""Join briefly as an observer and report the mesh (``hivemesh status``)."""

from __future__ import annotations

import time
from typing import Any

import trio

from hivemesh.errors import MeshError
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.mesh.view import MeshView


def snapshot(view: MeshView, observer: str = "") -> dict[str, Any]:
    """The view as plain data: what ``status --json`` prints."""
    return {
        "observer": observer,
        "peers": [
            {
                "peer_id": e.peer_id,
                "addrs": list(e.advert.addrs),
                "models": [m.to_wire() for m in e.advert.models],
                "capacity": e.advert.capacity.to_wire(),
                "roles": list(e.advert.roles),
                "last_seen": round(e.received, 3),
            }
            for e in view.live()
            if e.peer_id != view.self_id
        ],
        "rejected": dict(view.rejected),
    }


async def wait_settled(view: MeshView, interval: float, timeout: float) -> None:
    """Wait for the first advert (an empty mesh waits out ``timeout``), then
    until the view has not grown for 1.5 advert intervals."""
    deadline = time.monotonic() + timeout
    while not view.peers and time.monotonic() < deadline:
        await trio.sleep(0.05)
    size = -1
    while time.monotonic() < deadline and len(view.peers) != size:
        size = len(view.peers)
        await trio.sleep(min(1.5 * interval, max(0.0, deadline - time.monotonic())))


async def observe(bootstrap: list[str], interval: float, timeout: float, psk: str | None = None) -> dict[str, Any]:
    config = MeshConfig(generate(), bootstrap=bootstrap, advert_interval=interval,
                        roles=(), advertise=False, psk=psk)
    node = MeshNode(config)
    async with node.run():
        with trio.move_on_after(timeout):
            await node.wait_joined()
        if not node.connected_peers():
            raise MeshError(f"could not reach any bootstrap peer within {timeout:.0f}s: {', '.join(bootstrap)}")
        await wait_settled(node.view, interval, timeout)
        return snapshot(node.view, node.peer_id)
