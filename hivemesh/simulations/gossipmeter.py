"""Count the gossip RPCs a node really sends: every publish copy it forwards,
every IHAVE/IWANT/GRAFT/PRUNE, with their bytes.

The node's own counters (``gossip_stats``) see each advert once; on the wire
gossipsub forwards copies to every mesh peer, which is most of the traffic in
a small mesh. The meter wraps the node's ``Pubsub.write_msg`` (instance
attribute; measurement only, nothing else changes). Every RPC one peer sends
another receives, so across the mesh the mean received equals the mean sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


def meter(node: Any) -> Counter[str]:
    """Start counting ``node``'s outgoing gossip RPCs; returns the live counter."""
    counts: Counter[str] = Counter()
    pubsub = getattr(node, "pubsub", None)
    if pubsub is None:
        return counts
    write = pubsub.write_msg

    async def counted(stream: Any, rpc: Any) -> Any:
        counts["rpcs_out"] += 1
        counts["rpc_bytes_out"] += rpc.ByteSize()
        counts["publish_out"] += len(rpc.publish)
        if rpc.HasField("control"):
            counts["control_out"] += 1
        return await write(stream, rpc)

    pubsub.write_msg = counted
    node.gossip_rpc = counts
    return counts
