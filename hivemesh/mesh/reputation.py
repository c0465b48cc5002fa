"""A peer's local opinion of other peers. Pure (the clock is passed in).

Misbehaviour costs points: adverts that fail verification (charged to the
peer that forwarded them), garbage on our streams, outputs or reports whose
signature does not check. Scores decay back towards zero with a half-life, so
a peer that behaves recovers; below ``ban_below`` a peer is not scheduled,
its gossip is dropped and its streams are refused until it recovers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BAN_BELOW = -10.0
HALF_LIFE_S = 600.0

#: points per kind of offence
COST = {
    "bad_signature": 3.0,
    "bad_peer_id": 3.0,
    "malformed": 2.0,
    "oversize": 2.0,
    "future": 1.0,
    "garbage": 2.0,
    "bad_output": 5.0,
    "bad_report": 5.0,
    "wrong_output": 4.0,  # an output two checkers rejected (hivemesh.gateway.trust)
    "false_check": 4.0,  # a check a third opinion contradicted
    "liar": 100.0,  # outputs that failed checks again and again (``TrustBook``'s ban)
}


@dataclass
class Reputation:
    ban_below: float = BAN_BELOW
    half_life_s: float = HALF_LIFE_S
    _scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # peer -> (score, at)

    def score(self, peer_id: str, now: float) -> float:
        value, at = self._scores.get(peer_id, (0.0, now))
        return value * math.pow(0.5, max(0.0, now - at) / self.half_life_s)

    def penalize(self, peer_id: str, offence: str, now: float) -> bool:
        """Charge ``offence``; True when this pushed the peer below the ban line."""
        before = self.score(peer_id, now)
        after = before - COST.get(offence, 1.0)
        self._scores[peer_id] = (after, now)
        return before >= self.ban_below > after

    def banned(self, peer_id: str, now: float) -> bool:
        return self.score(peer_id, now) < self.ban_below

    def banned_set(self, now: float) -> set[str]:
        return {p for p in self._scores if self.banned(p, now)}

    def snapshot(self, now: float) -> dict[str, float]:
        return {p: round(self.score(p, now), 2) for p in self._scores if self.score(p, now) < -0.01}
