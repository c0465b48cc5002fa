"""The simulated mesh's peers as the harness sees them, whatever runs them.

A ``Cluster`` starts and stops peers (``inproc.InProcessCluster`` as trio
tasks in this process, ``procs.ProcessCluster`` as OS processes); ``SimPeer``
is one incarnation of a worker or gateway slot: ``w3`` is worker slot 3,
``w3.2`` its second replacement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from hivemesh.mesh.node import MeshNode
from hivemesh.simulations.workload import WorkerModel


@dataclass
class PeerStats:
    """Counters a peer keeps; the latest snapshot (a dead process's last one)."""

    gossip: Counter[str] = field(default_factory=Counter)  # adverts_in/out, bytes_in/out
    worker: Counter[str] = field(default_factory=Counter)
    gateway: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # inbound streams refused, by reason
    view: int = 0


@dataclass
class SimPeer:
    name: str
    role: str  # worker | gateway
    slot: int
    generation: int
    peer_id: str
    started_at: float  # harness clock
    model: WorkerModel | None = None
    stopped_at: float | None = None
    stopped_how: str = ""  # killed | left | (empty: ran to the end)
    pid: int | None = None  # its own process, when it has one
    handle: Any = None  # Running (in-process) or Popen (process)
    stats: PeerStats = field(default_factory=PeerStats)

    @property
    def alive(self) -> bool:
        return self.stopped_at is None


def peer_name(role: str, slot: int, generation: int) -> str:
    base = f"{role[0]}{slot}"
    return base if generation == 0 else f"{base}.{generation}"


class Cluster(Protocol):
    mode: str

    async def start_bootstrap(self) -> str: ...

    async def start_worker(self, name: str, model: WorkerModel) -> tuple[str, Any, int | None]: ...

    async def start_gateway(self, name: str) -> tuple[str, Any, int | None]: ...

    async def start_client(self) -> MeshNode: ...

    async def stop(self, peer: SimPeer, kill: bool) -> None: ...

    def refresh(self, peer: SimPeer) -> None:
        """Update ``peer.stats`` from the peer."""
        ...

    async def aclose(self) -> None: ...
