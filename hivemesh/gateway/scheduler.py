"""Choosing a peer for each stage of a pipeline. Pure.

A peer is a candidate for a stage when its advert lists the capability, it
is not banned and not excluded for that stage (it failed it before). Stages
wait for their inputs without holding a slot, so every stage is placed at
once and free slots do not limit placement; they rank it. Among candidates:
peers whose stages broke lately last, then the fewest stages this gateway
already placed there per slot, then the smallest share of slots the peer
advertises busy (others' work), then the fastest model for the capability,
the shortest advertised queue, and the peer id (so the choice is
deterministic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hivemesh.mesh.view import MeshView, PeerEntry


@dataclass(frozen=True)
class Need:
    subtask_id: str
    capability: str


@dataclass
class Schedule:
    assigned: dict[str, str] = field(default_factory=dict)  # subtask id -> peer id
    waiting: list[str] = field(default_factory=list)  # capability exists, but only on excluded peers now
    missing: dict[str, str] = field(default_factory=dict)  # subtask id -> capability nobody has


def speed_for(entry: PeerEntry, capability: str) -> float:
    return max((m.tokens_per_second for m in entry.advert.models if capability in m.capabilities), default=0.0)


def busy_share(entry: PeerEntry) -> float:
    """The share of its slots a peer advertises taken (1.0 for a peer with none)."""
    cap = entry.advert.capacity
    if cap.slots_total <= 0:
        return 1.0
    return 1.0 - max(0, min(cap.slots_free, cap.slots_total)) / cap.slots_total


def place(
    needs: Sequence[Need],
    view: MeshView,
    load: Mapping[str, int] | None = None,
    exclude: Mapping[str, set[str]] | None = None,
    banned: set[str] | frozenset[str] = frozenset(),
    suspect: set[str] | frozenset[str] = frozenset(),
) -> Schedule:
    """Place every stage of a pipeline at once (stages wait for their inputs
    without holding a slot, so free slots do not limit placement). Spread by
    load per slot (``load``: stages this gateway placed per peer, over all its
    jobs, and not done), then by the
    advertised free slots, then speed. ``banned`` peers (low local
    reputation) are never used; ``suspect`` peers (their stages broke lately)
    only when no other peer can."""
    counts = dict(load or {})
    exclude = exclude or {}
    schedule = Schedule()
    for need in needs:
        capable = [e for e in view.with_capability(need.capability) if e.peer_id not in banned]
        peers = [e for e in capable if e.peer_id not in exclude.get(need.subtask_id, set())]
        if not capable:
            schedule.missing[need.subtask_id] = need.capability
            continue
        if not peers:
            schedule.waiting.append(need.subtask_id)
            continue
        best = min(peers, key=lambda e: (e.peer_id in suspect,
                                         counts.get(e.peer_id, 0) / max(1, e.advert.capacity.slots_total),
                                         busy_share(e), -speed_for(e, need.capability), e.advert.capacity.queue, e.peer_id))
        schedule.assigned[need.subtask_id] = best.peer_id
        counts[best.peer_id] = counts.get(best.peer_id, 0) + 1
    return schedule
