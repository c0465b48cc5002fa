"""Peer exchange (``/hivemesh/px/1``): how a new peer learns whom to dial.

The asker sends its own listen addrs (empty for an observer, which does not
want to be listed); the answerer records it and replies with up to
``MAX_PX_PEERS`` other peers it knows. Every peer answers, so a mesh keeps
growing after the bootstrap is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hivemesh.mesh import wire

PROTOCOL = "/hivemesh/px/1"
MAX_PX_PEERS = 32
MAX_ADDRS = 8


@dataclass(frozen=True)
class PxPeer(wire.Message):
    peer_id: str
    addrs: tuple[str, ...]


@dataclass(frozen=True)
class PxRequest(wire.Message):
    MAX_BYTES = 2048

    addrs: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.addrs) > MAX_ADDRS:
            raise ValueError(f"at most {MAX_ADDRS} addrs")


@dataclass(frozen=True)
class PxResponse(wire.Message):
    MAX_BYTES = 64 * 1024

    peers: tuple[PxPeer, ...]

    def __post_init__(self) -> None:
        if len(self.peers) > MAX_PX_PEERS:
            raise ValueError(f"at most {MAX_PX_PEERS} peers")


class PxTable:
    """Peers that asked us for peers, with when they last asked. Pure."""

    def __init__(self, ttl_s: float = 120.0, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[tuple[str, ...], float]] = {}

    def record(self, peer_id: str, addrs: tuple[str, ...], now: float) -> None:
        if not addrs:
            return
        self._entries.pop(peer_id, None)
        self._entries[peer_id] = (addrs[:MAX_ADDRS], now)
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def forget(self, peer_id: str) -> None:
        self._entries.pop(peer_id, None)

    def peers(self, now: float) -> list[PxPeer]:
        fresh = [(p, a) for p, (a, t) in self._entries.items() if now - t <= self.ttl_s]
        return [PxPeer(p, a) for p, a in reversed(fresh)]


def answer(candidates: list[PxPeer], asker: str) -> PxResponse:
    seen: set[str] = {asker}
    out: list[PxPeer] = []
    for peer in candidates:
        if peer.peer_id not in seen and peer.addrs:
            seen.add(peer.peer_id)
            out.append(peer)
        if len(out) == MAX_PX_PEERS:
            break
    return PxResponse(tuple(out))


class ClockedPxTable(PxTable):
    """PxTable bound to a clock, so callers need not pass ``now``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self._clock = clock

    def record(self, peer_id: str, addrs: tuple[str, ...], now: float | None = None) -> None:  # type: ignore[override]
        super().record(peer_id, addrs, self._clock() if now is None else now)

    def peers(self, now: float | None = None) -> list[PxPeer]:  # type: ignore[override]
        return super().peers(self._clock() if now is None else now)
