"""Choosing a peer for each ready subtask. Pure.

A peer is a candidate for a subtask when its advert lists the capability and
it is not excluded for that subtask (it failed it before). Among candidates
with a free slot, the fastest model for the capability wins, then the
shortest queue, then the peer id (so the choice is deterministic). At most
one subtask per free slot is handed out: ``free = min(advertised free,
slots_total - our in-flight subtasks there)``.
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
    waiting: list[str] = field(default_factory=list)  # capability exists, no free slot now
    missing: dict[str, str] = field(default_factory=dict)  # subtask id -> capability nobody has


def speed_for(entry: PeerEntry, capability: str) -> float:
    return max((m.tokens_per_second for m in entry.advert.models if capability in m.capabilities), default=0.0)


def free_slots(entry: PeerEntry, inflight: int) -> int:
    cap = entry.advert.capacity
    return max(0, min(cap.slots_free, cap.slots_total - inflight))


def assign(
    needs: Sequence[Need],
    view: MeshView,
    inflight: Mapping[str, int] | None = None,
    exclude: Mapping[str, set[str]] | None = None,
    penalty: Mapping[str, float] | None = None,
) -> Schedule:
    """Assign ``needs`` in order. ``inflight``: our running subtasks per peer;
    ``exclude``: peers not to use per subtask; ``penalty``: peers to rank last."""
    counts = dict(inflight or {})
    exclude = exclude or {}
    penalty = penalty or {}
    schedule = Schedule()
    for need in needs:
        peers = [e for e in view.with_capability(need.capability)
                 if e.peer_id not in exclude.get(need.subtask_id, set())]
        if not peers:
            if not view.with_capability(need.capability):
                schedule.missing[need.subtask_id] = need.capability
            else:
                schedule.waiting.append(need.subtask_id)  # only excluded peers have it
            continue
        free = [e for e in peers if free_slots(e, counts.get(e.peer_id, 0)) > 0]
        if not free:
            schedule.waiting.append(need.subtask_id)
            continue
        best = min(free, key=lambda e: (penalty.get(e.peer_id, 0.0), -speed_for(e, need.capability),
                                        e.advert.capacity.queue, e.peer_id))
        schedule.assigned[need.subtask_id] = best.peer_id
        counts[best.peer_id] = counts.get(best.peer_id, 0) + 1
    return schedule


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
    load per slot (``load``: stages already placed per peer), then speed.
    ``banned`` peers (low local reputation) are never used; ``suspect`` peers
    (their stages broke lately) only when no other peer can."""
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
                                         -speed_for(e, need.capability), e.advert.capacity.queue, e.peer_id))
        schedule.assigned[need.subtask_id] = best.peer_id
        counts[best.peer_id] = counts.get(best.peer_id, 0) + 1
    return schedule
