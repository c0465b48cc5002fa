"""The embedded demo: a whole mesh in one process on loopback."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio

from hivemesh.config import Settings
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.mesh.observe import snapshot


async def run_demo(settings: Settings, workers: int = 2) -> dict[str, Any]:
    interval = 0.5
    async with AsyncExitStack() as stack:
        boot = MeshNode(MeshConfig(generate(), gossip=False, advertise=False, roles=()))
        await stack.enter_async_context(boot.run())
        nodes = []
        for _ in range(workers):
            node = MeshNode(MeshConfig(generate(), bootstrap=boot.full_addrs()[:1], advert_interval=interval))
            nodes.append(await stack.enter_async_context(node.run()))
        with trio.move_on_after(10):
            while len(nodes[0].view.peers) < workers:
                await trio.sleep(0.1)
        return snapshot(nodes[0].view)
