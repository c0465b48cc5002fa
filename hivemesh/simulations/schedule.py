"""When jobs arrive and faults strike: a pure function of the settings and seed.

Arrivals: Poisson at ``rate`` (steady, churn, kill-*), or bursts of
``burst_size`` every ``burst_every`` seconds (burst). Faults: worker or
gateway kills at the ``kill_at`` moments, or at uniformly random moments
within the submission window; churn replaces a worker (it leaves, a fresh one
joins) at Poisson moments. Each fault carries ``pick`` in [0, 1), which
chooses its target among the candidates at that moment, so the same seed
gives the same schedule. Times are seconds after the first job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hivemesh.simulations.settings import SimSettings

MIN_FAULT_AT_S = 0.5


@dataclass(frozen=True)
class Arrival:
    index: int
    at: float


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str  # "kill-worker" | "kill-gateway" | "churn"
    pick: float


@dataclass(frozen=True)
class Schedule:
    arrivals: tuple[Arrival, ...]
    faults: tuple[Fault, ...]

    @property
    def window_s(self) -> float:
        return self.arrivals[-1].at if self.arrivals else 0.0


def build_schedule(s: SimSettings) -> Schedule:
    """The run's arrivals and faults; ``s`` must be resolved."""
    assert s.jobs is not None and s.rate is not None
    rng = np.random.default_rng([s.seed, 1])
    arrivals = _bursts(s) if s.scenario == "burst" else _poisson(s.jobs, s.rate, rng)
    window = arrivals[-1].at if arrivals else 0.0
    faults = _kills(s, window, np.random.default_rng([s.seed, 2])) + _churn(s, window, np.random.default_rng([s.seed, 3]))
    return Schedule(tuple(arrivals), tuple(sorted(faults, key=lambda f: (f.at, f.kind))))


def _poisson(jobs: int, rate: float, rng: np.random.Generator) -> list[Arrival]:
    gaps = rng.exponential(1.0 / rate, size=jobs)
    gaps[0] = 0.0
    return [Arrival(i, round(float(t), 6)) for i, t in enumerate(np.cumsum(gaps))]


def _bursts(s: SimSettings) -> list[Arrival]:
    assert s.jobs is not None and s.burst_size is not None
    return [Arrival(i, round((i // s.burst_size) * s.burst_every, 6)) for i in range(s.jobs)]


def _kills(s: SimSettings, window: float, rng: np.random.Generator) -> list[Fault]:
    kind = {"kill-workers": "kill-worker", "kill-gateway": "kill-gateway"}.get(s.scenario)
    if kind is None or not s.kills:
        return []
    if s.kill_at:
        moments = sorted(s.kill_at)
    else:
        moments = sorted(rng.uniform(MIN_FAULT_AT_S, max(window, 2 * MIN_FAULT_AT_S), size=s.kills).tolist())
    picks = rng.random(len(moments))
    return [Fault(round(float(t), 6), kind, float(p)) for t, p in zip(moments, picks)]


def _churn(s: SimSettings, window: float, rng: np.random.Generator) -> list[Fault]:
    if not s.churn_rate:
        return []
    faults, t = [], MIN_FAULT_AT_S
    while True:
        t += float(rng.exponential(1.0 / s.churn_rate))
        if t > max(window, 2 * MIN_FAULT_AT_S):
            return faults
        faults.append(Fault(round(t, 6), "churn", float(rng.random())))


def pick(candidates: list[str], fault: Fault) -> str | None:
    """The target of ``fault`` among ``candidates`` (sorted first), or None."""
    if not candidates:
        return None
    ordered = sorted(candidates)
    return ordered[min(len(ordered) - 1, int(fault.pick * len(ordered)))]
