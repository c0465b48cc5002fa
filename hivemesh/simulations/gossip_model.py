"""Discrete-event model of one advert spreading by gossipsub over a ``Mesh``.

What is modelled (meshsub/1.1.0, as hivemesh runs it):

- eager push: a peer that first receives a message verifies it
  (``proc_s``), then sends it to every mesh neighbour except the peer it came
  from and the origin; later copies are dropped by the seen-cache unverified;
- the sender's uplink is a FIFO: each copy takes ``message_bytes`` at
  ``bandwidth_bps`` before its link latency starts;
- lazy gossip: at each of its next ``gossip_window`` heartbeats (random phase
  per peer, every ``heartbeat_s``) a holder sends IHAVE to ``d_lazy`` of its
  non-mesh connected peers; one that has not seen the message answers IWANT
  and gets the message, which it then pushes on like any first copy;
- every transmission (message, IHAVE, IWANT) is lost with probability ``loss``.

Not modelled: mesh churn, GRAFT/PRUNE, peer scoring, other traffic sharing the
links. ``simulate_advert`` is deterministic for a seed.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

import numpy as np

from hivemesh.simulations.topology import Mesh

MSG, IHAVE, IWANT, GOSSIP = 0, 1, 2, 3
INF = math.inf
COUNTERS = ("eager_sent", "iwant_reply_sent", "ihave_sent", "iwant_sent", "lost", "duplicates")


@dataclass(frozen=True)
class GossipParams:
    """Protocol and cost settings; defaults follow hivemesh's gossipsub setup."""

    lazy: bool = True
    loss: float = 0.0
    proc_s: float = 0.0002  # verify + apply one advert (measured ~0.2 ms)
    bandwidth_bps: float = 20e6  # uplink per peer
    message_bytes: int = 750  # signed advert ~600 B + gossipsub envelope ~150 B
    id_bytes: int = 48  # message id (seqno + from) in an IHAVE/IWANT
    control_bytes: int = 40  # framing of one control RPC
    heartbeat_s: float = 1.0
    d_lazy: int = 6
    gossip_window: int = 3  # heartbeats a message stays in IHAVE gossip


@dataclass
class Spread:
    """Outcome of one advert: first-arrival time and hop count per peer."""

    origin: int
    arrival: np.ndarray  # seconds after publish; inf = never received
    hops: np.ndarray  # -1 = never received
    via_lazy: int  # peers whose first copy came by IWANT
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def reached(self) -> float:
        return float(np.isfinite(self.arrival).mean())


def simulate_advert(mesh: Mesh, origin: int, params: GossipParams, seed: int) -> Spread:
    """Publish one advert at ``origin`` at t=0 and run until the network is quiet."""
    run = _Run(mesh, params, random.Random(seed), origin)
    run.receive(origin, -1, 0.0, 0)
    run.loop()
    return run.result()


class _Run:
    """State of one advert's spread; heap entries: (time, kind, dst, src, hop, latency)."""

    def __init__(self, mesh: Mesh, p: GossipParams, rnd: random.Random, origin: int) -> None:
        n = mesh.size
        self.mesh, self.p, self.rnd, self.origin, self.n = mesh, p, rnd, origin, n
        self.arrival = [INF] * n
        self.hops = [-1] * n
        self.up_free = [0.0] * n
        self.phase = [rnd.random() * p.heartbeat_s for _ in range(n)]
        self.msg_tx = p.message_bytes * 8 / p.bandwidth_bps
        self.ctl_tx = (p.control_bytes + p.id_bytes) * 8 / p.bandwidth_bps
        self.heap: list[tuple[float, int, int, int, int, float]] = []
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.reached = 0
        self.via_lazy = 0

    def loop(self) -> None:
        heap, pop = self.heap, heapq.heappop
        arrival = self.arrival
        while heap:
            t, kind, dst, src, hop, lat = pop(heap)
            if kind == MSG:
                if arrival[dst] <= t:
                    self.counts["duplicates"] += 1
                else:
                    self.receive(dst, src, t, hop)
            elif kind == GOSSIP:
                self.gossip(dst, t, hop)
            elif kind == IHAVE:
                if arrival[dst] > t:
                    self.send_control(dst, src, t, IWANT, lat)
            else:  # IWANT reaches the holder: answer with the message
                self.send_message(dst, src, t, -(self.hops[dst] + 1), lat)

    def receive(self, v: int, src: int, t: float, hop: int) -> None:
        """First copy at ``v`` (``hop < 0``: by IWANT): verify, push, schedule gossip."""
        self.arrival[v] = t
        self.hops[v] = abs(hop)
        self.reached += 1
        self.via_lazy += hop < 0
        ready = t + self.p.proc_s if v != self.origin else t
        next_hop, origin = abs(hop) + 1, self.origin
        for w, lat in zip(self.mesh.neighbours[v], self.mesh.latency[v]):
            if w != src and w != origin:
                self.send_message(v, w, ready, next_hop, lat)
        if self.p.lazy:
            hb = self.p.heartbeat_s
            first = self.phase[v] + (math.floor((ready - self.phase[v]) / hb) + 1) * hb
            heapq.heappush(self.heap, (first, GOSSIP, v, -1, 0, 0.0))

    def send_message(self, u: int, v: int, ready: float, hop: int, lat: float) -> None:
        """``u`` sends the message to ``v``; ``hop < 0`` marks an IWANT reply."""
        done = max(ready, self.up_free[u]) + self.msg_tx
        self.up_free[u] = done
        self.counts["eager_sent" if hop > 0 else "iwant_reply_sent"] += 1
        if not self._lost():
            heapq.heappush(self.heap, (done + lat, MSG, v, u, hop, lat))

    def send_control(self, u: int, v: int, t: float, kind: int, lat: float) -> None:
        self.counts["ihave_sent" if kind == IHAVE else "iwant_sent"] += 1
        if not self._lost():
            heapq.heappush(self.heap, (t + self.ctl_tx + lat, kind, v, u, 0, lat))

    def gossip(self, u: int, t: float, round_: int) -> None:
        """One heartbeat of ``u``: IHAVE to ``d_lazy`` non-mesh connected peers."""
        p, others = self.p, self.mesh.others[u]
        targets = min(p.d_lazy, len(others))
        if self.reached == self.n:  # everyone holds it: count the rest, skip the work
            self.counts["ihave_sent"] += targets * (p.gossip_window - round_)
            return
        lats = self.mesh.others_latency[u]
        for i in self.rnd.sample(range(len(others)), targets):
            if self.arrival[others[i]] <= t:
                self.counts["ihave_sent"] += 1  # receiver has seen it: ignored
            else:
                self.send_control(u, others[i], t, IHAVE, lats[i])
        if round_ + 1 < p.gossip_window:
            heapq.heappush(self.heap, (t + p.heartbeat_s, GOSSIP, u, -1, round_ + 1, 0.0))

    def _lost(self) -> bool:
        if self.p.loss and self.rnd.random() < self.p.loss:
            self.counts["lost"] += 1
            return True
        return False

    def result(self) -> Spread:
        return Spread(self.origin, np.array(self.arrival), np.array(self.hops),
                      self.via_lazy, dict(self.counts))
