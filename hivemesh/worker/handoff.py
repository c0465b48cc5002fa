"""A worker's outputs on their way downstream: the outputs it produced, kept
for re-sending (``Retention``), and one long-lived ``/hivemesh/output/1``
stream per downstream peer (``Links``)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import trio

from hivemesh.errors import HivemeshError
from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream
from hivemesh.worker.pipewire import OUTPUT, Claim, Output, OutputAck

RETENTION_S = 600.0
MAX_RETAINED_BYTES = 64 * 1024 * 1024
IO_TIMEOUT_S = 10.0


@dataclass
class Retained:
    claim: Claim
    sig: bytes
    text: str
    at: float


class Retention:
    """Outputs this peer produced, by (job, subtask), bounded by age and bytes."""

    def __init__(self, ttl_s: float = RETENTION_S, max_bytes: int = MAX_RETAINED_BYTES) -> None:
        self.ttl_s, self.max_bytes = ttl_s, max_bytes
        self._items: OrderedDict[tuple[str, str], Retained] = OrderedDict()
        self._bytes = 0

    def put(self, item: Retained) -> None:
        key = (item.claim.job_id, item.claim.subtask_id)
        self._drop(key)
        self._items[key] = item
        self._bytes += len(item.text)
        self.prune(item.at)

    def get(self, job_id: str, subtask_id: str, now: float) -> Retained | None:
        self.prune(now)
        return self._items.get((job_id, subtask_id))

    def prune(self, now: float) -> None:
        while self._items:
            key, oldest = next(iter(self._items.items()))
            if now - oldest.at <= self.ttl_s and self._bytes <= self.max_bytes:
                return
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= len(item.text)


class Links:
    """One long-lived ``/hivemesh/output/1`` stream per downstream peer, so a
    hand-off costs a write and an ack, not a new stream's negotiation."""

    def __init__(self, node: MeshNode) -> None:
        self.node = node
        self._streams: dict[str, Stream] = {}
        self._locks: dict[str, trio.Lock] = {}

    async def send(self, peer_id: str, output: Output, written: trio.Event | None = None) -> OutputAck:
        """Send ``output``, on a fresh stream when the kept one fails; its ack.
        ``written`` is set once it is written the first time (or that failed)."""
        async with self._locks.setdefault(peer_id, trio.Lock()):
            try:
                for fresh in (False, True):
                    stream = None if fresh else self._streams.get(peer_id)
                    try:
                        if stream is None:
                            stream = self._streams[peer_id] = await self.node.open_stream(peer_id, OUTPUT, lazy=True)
                        with trio.fail_after(IO_TIMEOUT_S):
                            await stream.send(output)
                            if written is not None:
                                written.set()
                            return await stream.receive(OutputAck)
                    except (HivemeshError, trio.TooSlowError):
                        self._streams.pop(peer_id, None)
                        if stream is not None:
                            await stream.reset()
                        if fresh:
                            raise
            finally:
                if written is not None:
                    written.set()
        raise AssertionError("unreachable")
