"""Helpers for tests that run real py-libp2p peers on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.peer import inprocess
from hivemesh.peer.inprocess import Running, start_bootstrap, start_node

__all__ = ["Running", "start", "start_bootstrap", "start_worker", "peer_config", "wait_until", "sees_all"]

INTERVAL = 0.5  # advert interval in tests


async def start(nursery: trio.Nursery, config: MeshConfig) -> Running:
    return await start_node(nursery, config)


def peer_config(bootstrap: list[str], **kw) -> MeshConfig:
    kw.setdefault("advert_interval", INTERVAL)
    return MeshConfig(kw.pop("keypair", None) or generate(), bootstrap=bootstrap, **kw)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    """Poll ``predicate``; return the seconds it took, fail the test on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await trio.sleep(0.05)
    return time.monotonic() - start


def sees_all(nodes: list[MeshNode]) -> bool:
    ids = {n.peer_id for n in nodes}
    return all(ids - {n.peer_id} <= set(n.view.peers) for n in nodes)



async def start_worker(nursery: trio.Nursery, bootstrap: list[str], registry, slots: int = 1, **kw) -> Running:
    return await inprocess.start_worker(nursery, peer_config(bootstrap, **kw), registry, slots)
