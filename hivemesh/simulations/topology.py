"""A gossipsub-like mesh for the model-only simulation.

Each peer keeps about ``degree`` mesh links (GossipSub D), never fewer than
``d_lo`` nor more than ``d_hi``: a random regular graph from the pairing
model, with self-loops and duplicate links dropped, then topped up the way a
heartbeat GRAFTs an under-full mesh, then joined into one component. Every
link gets one latency, the same in both directions.

Besides its mesh links a peer holds a few other connections (``connections``
in all, as hivemesh's dial loop keeps about ``target_peers``); those non-mesh
peers are where lazy IHAVE gossip goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hivemesh.simulations.latency import LatencySpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mesh:
    """Adjacency as plain lists (fast scalar access in the event loop)."""

    neighbours: list[list[int]]
    latency: list[list[float]]  # latency[u][i] is the link u -> neighbours[u][i]
    others: list[list[int]]  # non-mesh connected peers (lazy gossip targets)
    others_latency: list[list[float]]

    @property
    def size(self) -> int:
        return len(self.neighbours)

    def degrees(self) -> np.ndarray:
        return np.array([len(n) for n in self.neighbours])


def build_mesh(n: int, degree: int, latency: LatencySpec, rng: np.random.Generator,
               connections: int = 12, d_lo: int | None = None, d_hi: int | None = None) -> Mesh:
    """A connected random mesh of ``n`` peers with link latencies from ``latency``."""
    d_lo = min(degree, 4) if d_lo is None else d_lo
    d_hi = max(degree, 12) if d_hi is None else d_hi
    edges = _pairing_edges(n, degree, rng)
    edges = _top_up(n, edges, d_lo, d_hi, rng)
    edges = _connect(n, edges, rng)
    neighbours, lat = _adjacency(n, edges, latency.sample(rng, len(edges)))
    others = _other_connections(neighbours, connections, rng)
    others_lat = latency.sample(rng, sum(map(len, others))).tolist()
    it = iter(others_lat)
    return Mesh(neighbours, lat, others, [[next(it) for _ in o] for o in others])


def _pairing_edges(n: int, degree: int, rng: np.random.Generator) -> set[tuple[int, int]]:
    stubs = np.repeat(np.arange(n), degree)
    rng.shuffle(stubs)
    pairs = stubs[: len(stubs) // 2 * 2].reshape(-1, 2)
    pairs = np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)
    return set(map(tuple, np.unique(pairs, axis=0).tolist()))


def _top_up(n: int, edges: set[tuple[int, int]], d_lo: int, d_hi: int,
            rng: np.random.Generator) -> set[tuple[int, int]]:
    """GRAFT peers below ``d_lo`` to random peers below ``d_hi``."""
    deg = np.zeros(n, dtype=np.int64)
    for u, v in edges:
        deg[u] += 1
        deg[v] += 1
    for u in np.flatnonzero(deg < d_lo).tolist():
        for _ in range(50 * d_lo):
            if deg[u] >= d_lo:
                break
            v = int(rng.integers(n))
            e = (min(u, v), max(u, v))
            if v != u and e not in edges and deg[v] < d_hi:
                edges.add(e)
                deg[u] += 1
                deg[v] += 1
    return edges


def _connect(n: int, edges: set[tuple[int, int]], rng: np.random.Generator) -> set[tuple[int, int]]:
    """Link every component to the first one (rare for degree >= 3)."""
    comps = _components(n, edges)
    for comp in comps[1:]:
        u = int(rng.choice(comps[0]))
        v = int(rng.choice(comp))
        edges.add((min(u, v), max(u, v)))
    if len(comps) > 1:
        log.debug("joined %d mesh components", len(comps))
    return edges


def _components(n: int, edges: set[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
    groups: dict[int, list[int]] = {}
    for x in range(n):
        groups.setdefault(find(x), []).append(x)
    return sorted(groups.values(), key=len, reverse=True)


def _other_connections(neighbours: list[list[int]], connections: int,
                       rng: np.random.Generator) -> list[list[int]]:
    """For each peer, ``connections - mesh degree`` random non-mesh peers."""
    n = len(neighbours)
    want = [max(0, min(connections, n - 1) - len(nb)) for nb in neighbours]
    draws = rng.integers(n, size=(n, 3 * max(want, default=0) + 8)).tolist()
    others: list[list[int]] = []
    for u, nb in enumerate(neighbours):
        taken = set(nb)
        taken.add(u)
        picked = [v for v in dict.fromkeys(draws[u]) if v not in taken][: want[u]]
        others.append(picked)
    return others


def _adjacency(n: int, edges: set[tuple[int, int]],
               lat: np.ndarray) -> tuple[list[list[int]], list[list[float]]]:
    neighbours: list[list[int]] = [[] for _ in range(n)]
    latency: list[list[float]] = [[] for _ in range(n)]
    for (u, v), d in zip(sorted(edges), lat.tolist()):
        neighbours[u].append(v)
        latency[u].append(d)
        neighbours[v].append(u)
        latency[v].append(d)
    return neighbours, latency
