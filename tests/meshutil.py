"""Helpers for tests that run real py-libp2p peers on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode

INTERVAL = 0.5  # advert interval in tests


@dataclass
class Running:
    node: MeshNode
    scope: trio.CancelScope

    def stop(self) -> None:
        self.scope.cancel()


async def start(nursery: trio.Nursery, config: MeshConfig) -> Running:
    async def runner(task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            node = MeshNode(config)
            async with node.run():
                task_status.started(Running(node, scope))
                await trio.sleep_forever()

    return await nursery.start(runner)


async def start_bootstrap(nursery: trio.Nursery) -> Running:
    return await start(nursery, MeshConfig(generate(), gossip=False, advertise=False, roles=()))


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


async def start_worker(nursery: trio.Nursery, bootstrap: list[str], registry, slots: int = 1,
                       max_queue: int | None = None, **kw) -> Running:
    """A real mesh node serving ``/hivemesh/task/1`` with ``registry``'s models."""
    from hivemesh.peer import protocol
    from hivemesh.peer.worker import Worker

    config = peer_config(bootstrap, **kw)
    from hivemesh.mesh.identity import peer_id_of

    worker = Worker(registry, peer_id_of(config.keypair), slots, max_queue)
    config.advert_fields = worker.advert_fields

    async def runner(task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            node = MeshNode(config)
            node.handle(protocol.PROTOCOL, worker.handle_stream)
            node.worker = worker  # type: ignore[attr-defined]
            async with node.run():
                task_status.started(Running(node, scope))
                await trio.sleep_forever()

    return await nursery.start(runner)
