"""Added network latency for "slow" simulated peers.

Every frame such a peer writes on a direct stream (the streams it opens and
the ones it serves; gossip is untouched) waits ``delay`` seconds first, as a
slow uplink would hold it. Installed on one node (in-process peers) or on the
``MeshNode`` class (a peer process, which holds a single node).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream

def delayed_handler(handler: Callable[[Stream], Awaitable[None]], delay: float) -> Callable[[Stream], Awaitable[None]]:
    async def run(stream: Stream) -> None:
        stream.delay_s = delay
        await handler(stream)

    return run

async def _delayed(opened: Awaitable[Stream], delay: float) -> Stream:
    stream = await opened
    stream.delay_s = delay
    return stream

def slow_down(node: MeshNode, delay: float) -> None:
    """Delay this node's direct-stream writes; call before handlers are registered."""
    if delay <= 0:
        return
    handle, open_stream = node.handle, node.open_stream

    def slow_handle(protocol: str, handler: Callable[[Stream], Any]) -> None:
        handle(protocol, delayed_handler(handler, delay))

    async def slow_open(peer_id: str, protocol: str, *, lazy: bool = False) -> Stream:
        return await _delayed(open_stream(peer_id, protocol, lazy=lazy), delay)

    node.handle = slow_handle  # type: ignore[method-assign]
    node.open_stream = slow_open  # type: ignore[method-assign]

def slow_down_class(delay: float) -> None:
    """Delay every ``MeshNode``'s direct-stream writes (a peer process has one node)."""
    if delay <= 0:
        return
    handle, open_stream = MeshNode.handle, MeshNode.open_stream

    def slow_handle(self: MeshNode, protocol: str, handler: Callable[[Stream], Any]) -> None:
        handle(self, protocol, delayed_handler(handler, delay))

    async def slow_open(self: MeshNode, peer_id: str, protocol: str, *, lazy: bool = False) -> Stream:
        return await _delayed(open_stream(self, peer_id, protocol, lazy=lazy), delay)

    MeshNode.handle = slow_handle  # type: ignore[method-assign]
    MeshNode.open_stream = slow_open  # type: ignore[method-assign]
