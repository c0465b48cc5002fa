"""Gateway-election agreement while new adverts are still spreading.

Each peer elects from its own view; a peer whose view lacks an advert that
changes the top k disagrees with the rest until the advert reaches it. The
election function is injected (``Elect``); ``rendezvous_elect`` is hivemesh's
own election rule (``hivemesh.gateway.election.elect``), so the model and the
peers cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hivemesh.gateway.election import elect

Elect = Callable[[list[str], int], list[str]]


def rendezvous_elect(eligible_peer_ids: list[str], k: int) -> list[str]:
    """Top ``k`` by rendezvous hash, highest first: the peers' own rule."""
    return elect(eligible_peer_ids, k)


def agreement(arrivals: np.ndarray, joined: Sequence[str], base: Sequence[str],
              k: int, times: Sequence[float], elect: Elect) -> dict[str, float]:
    """Fraction of peers whose top-``k`` set equals the converged one, per time.

    ``arrivals[j, p]`` is when peer ``p`` got the advert of ``joined[j]``; every
    view already holds ``base``. Keys are the times formatted like ``"1.0"``.
    """
    final = frozenset(elect(list(base) + list(joined), k))
    cache: dict[bytes, bool] = {}
    out: dict[str, float] = {}
    for t in times:
        held = arrivals <= t  # (joined, peers)
        agree = 0
        for column in held.T:
            key = np.packbits(column).tobytes()
            if key not in cache:
                view = list(base) + [j for j, h in zip(joined, column) if h]
                cache[key] = frozenset(elect(view, k)) == final
            agree += cache[key]
        out[f"{t:.1f}"] = agree / held.shape[1]
    return out
