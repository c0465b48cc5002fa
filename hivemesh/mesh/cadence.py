"""How often a peer adverts: often in a small mesh, less as the mesh grows. Pure.

Every peer relays every peer's adverts, so with a fixed interval each peer's
gossip load grows with the mesh: N / interval distinct adverts per second,
each arriving several times (the gossip degree). ``hivemesh simulate
--model-only`` puts that at ~25,000 messages/s per peer for 10,000 peers
advertising every 2 s, and on this machine a single process hosting 16 real
peers at 2 s saturates a core until adverts arrive after they expire and the
views fall apart. So the interval is stretched to keep each peer's share of
the mesh's adverts at about ``budget`` per second: ``N / budget`` seconds,
never below the configured interval, never above ``ceiling``. An advert's TTL
follows the interval it was sent at, so receivers need no setting of their
own; what grows with the mesh is the time a silent peer stays in views
(2.5 periods), not the time a failure takes to notice on a stream, which
drops the peer at once (``MeshNode.unreachable``).
"""

from __future__ import annotations

DEFAULT_BUDGET = 10.0  # distinct adverts per second each peer takes from the whole mesh
DEFAULT_CEILING_S = 120.0
TTL_PERIODS = 2.5  # an advert stays valid for this many periods


def advert_period(base: float, peers: int, budget: float = DEFAULT_BUDGET,
                  ceiling: float = DEFAULT_CEILING_S) -> float:
    """Seconds between a peer's adverts in a mesh of ``peers`` (its view's size).

    ``budget`` <= 0 keeps the interval fixed at ``base``."""
    if budget <= 0:
        return base
    return min(max(base, peers / budget), max(base, ceiling))
