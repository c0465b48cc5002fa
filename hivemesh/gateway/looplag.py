"""Event-loop lag: how late a short sleep wakes up, and deadlines that allow for it.

On a starved machine a peer's own event loop runs late: a 0.1 s sleep takes
0.6 s. A timeout measured on that loop then fires for the peer's own
slowness, not the other side's, and a lease renewed on it lapses while the
peer is alive. ``LoopLag`` measures the overshoot with a tiny task; its
``fail_after`` counts a timeout in that task's ticks, each late tick as one
on time (the rest was lag), and ``allowance`` is the recent worst lag, for
intervals set ahead (leases).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import trio

PERIOD_S = 0.1
WINDOW = 100  # samples: the last ~10 s of a healthy loop
MAX_ALLOWANCE_S = 30.0  # a lag allowance never hides a dead peer for longer than this


class LagStats:
    """Overshoots of a periodic sleep. Pure."""

    def __init__(self, window: int = WINDOW) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.total = 0.0  # seconds lost since the start
        self.worst = 0.0

    def observe(self, overshoot: float) -> float:
        """Record one sample; returns the lag it counts (never negative)."""
        lag = max(0.0, overshoot)
        self.recent.append(lag)
        self.total += lag
        self.worst = max(self.worst, lag)
        return lag

    def allowance(self) -> float:
        """What to add to an interval set now: the worst recent lag, capped."""
        return min(MAX_ALLOWANCE_S, max(self.recent, default=0.0))


def counted(elapsed: float, period: float) -> float:
    """Of a tick that took ``elapsed`` where ``period`` was asked, the time
    that counts against a timeout: a late wake-up is the loop's lag."""
    return min(max(0.0, elapsed), period)


class LoopLag:
    """Run ``run`` in a nursery; use ``fail_after`` for timeouts that must
    not fire only because this loop was slow, and ``clock`` for deadlines
    kept as timestamps. ``lazy``: tick only while a ``fail_after`` is
    waiting (a worker: no cost while idle; no ``allowance`` history)."""

    def __init__(self, period_s: float = PERIOD_S, lazy: bool = False) -> None:
        self.period_s, self.lazy = period_s, lazy
        self.stats = LagStats()
        self.running = False
        self._watches: dict[int, list] = {}  # id(scope) -> [scope, seconds left]
        self._wanted = trio.Event()  # lazy: set when a watch comes
        self._clock = 0.0

    def clock(self) -> float:
        """``trio.current_time()`` less the lag this loop has lost since it
        started (never going back): time this loop had. A deadline counted
        on it does not pass only because the loop was starved."""
        self._clock = max(self._clock, trio.current_time() - self.stats.total)
        return self._clock

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.running = True
        task_status.started()
        try:
            while True:
                if self.lazy and not self._watches:
                    await self._wanted.wait()
                    self._wanted = trio.Event()
                start = trio.current_time()
                await trio.sleep(self.period_s)
                elapsed = trio.current_time() - start
                self.stats.observe(elapsed - self.period_s)
                for key, watch in list(self._watches.items()):
                    watch[1] -= counted(elapsed, self.period_s)
                    if watch[1] <= 0:
                        watch[0].cancel()
                        del self._watches[key]
        finally:
            self.running = False

    def allowance(self) -> float:
        return self.stats.allowance()

    @contextmanager
    def fail_after(self, seconds: float) -> Iterator[trio.CancelScope]:
        """``trio.fail_after(seconds)`` counted in this loop's ticks, so the
        time the loop lost (late wake-ups) does not count; at most
        ``MAX_ALLOWANCE_S`` more in all. Without ``run`` going: a plain one."""
        if not self.running:
            with trio.fail_after(seconds) as scope:
                yield scope
            return
        scope = trio.CancelScope(deadline=trio.current_time() + seconds + MAX_ALLOWANCE_S)
        self._watches[id(scope)] = [scope, seconds]
        self._wanted.set()
        try:
            with scope:
                yield scope
        finally:
            self._watches.pop(id(scope), None)
        if scope.cancelled_caught:
            raise trio.TooSlowError
