"""How this gateway's stages have fared on each peer lately. Pure.

A machine that is dying slowly (its connections close one by one while it
still advertises) keeps being chosen by placement, and each stage it takes
breaks. ``PeerHealth`` remembers, across this gateway's jobs, which peers
broke stages lately: placement puts them last, and their failures stop
counting as strikes against the subtasks they held (they say something about
the peer, not the subtask).
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 30.0  # a failure is forgotten this long after it happened
SUSPECT_AFTER = 2  # failures of different stages within the window


class PeerHealth:
    def __init__(self, window_s: float = WINDOW_S, suspect_after: int = SUSPECT_AFTER) -> None:
        self.window_s, self.suspect_after = window_s, suspect_after
        self._failures: dict[str, deque[tuple[float, str]]] = {}

    def failed(self, peer: str, stage: str, now: float) -> None:
        """A stage (``stage`` names it: job, subtask, attempt) broke on ``peer``."""
        self._prune(peer, now)
        failures = self._failures.setdefault(peer, deque())
        if all(s != stage for _, s in failures):
            failures.append((now, stage))

    def succeeded(self, peer: str) -> None:
        """A stage finished on ``peer``: one failure less against it."""
        failures = self._failures.get(peer)
        if failures:
            failures.popleft()

    def suspect(self, peer: str, now: float) -> bool:
        self._prune(peer, now)
        return len(self._failures.get(peer, ())) >= self.suspect_after

    def suspects(self, now: float) -> frozenset[str]:
        return frozenset(p for p in list(self._failures) if self.suspect(p, now))

    def _prune(self, peer: str, now: float) -> None:
        failures = self._failures.get(peer)
        while failures and now - failures[0][0] > self.window_s:
            failures.popleft()
        if failures is not None and not failures:
            del self._failures[peer]
