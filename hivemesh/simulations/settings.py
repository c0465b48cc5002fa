"""Settings of a real-peer simulation run, checked in one place.

``SimSettings`` is built from ``hivemesh simulate`` flags (see ``command``);
``resolve`` fills in what the scenario implies (how many kills, churn rate,
job rate) and ``check`` rejects what cannot run, with a message that says
which setting is wrong.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from hivemesh.mesh import cadence
from hivemesh.simulations.dists import Dist, parse_latency_dist, parse_rate_dist
from hivemesh.simulations.errors import SimConfigError

SCENARIOS = ("steady", "burst", "churn", "kill-workers", "kill-gateway", "liars")
DEFAULT_LIARS = 2  # workers that lie in the liars scenario
KILL_TARGETS = ("busy", "random")
MAX_STAGES = 16
DEFAULT_RATE = 2.0  # jobs per second when only --jobs is given
DEFAULT_KILLS = {"kill-workers": 3, "kill-gateway": 1}
DEFAULT_CHURN_RATE = 0.5  # replacements per second in the churn scenario
#: in-process peers share one core: adverts per second the whole process can carry
#: beside the jobs (idle, 12 peers at 2 s, 72/s, already took a whole core here)
IN_PROCESS_ADVERTS_S = 40.0
#: peer processes on this one machine share its cores as well: every distinct advert costs
#: every peer a validation and a few forwarded copies, so the machine carries about this
#: many adverts/s per core across the whole mesh (100 idle peer processes at 2 adverts/s
#: each, on 2 cores: saturated, 2% of a core per peer); a peer's budget is its share
MACHINE_ADVERTS_S_PER_CORE = 50.0


@dataclass(frozen=True)
class SimSettings:
    scenario: str = "steady"
    peers: int = 8  # workers + gateways
    gateways: int = 2
    jobs: int | None = None
    rate: float | None = None  # jobs per second
    duration: float | None = None  # seconds of submissions
    stages: int = 3
    model_latency: str = "fixed:200ms"
    model_tps: str = "fixed:0"  # 0: the reply is emitted at once after the latency
    reply_words: int = 12
    slots: int = 2
    seed: int = 0
    out: Path | None = None
    processes: bool = False
    fork_server: bool = True  # processes forked from one that imported the peer code (``zygote``)
    redis: bool = False
    advert_interval: float = 2.0  # hivemesh's default, the shortest interval
    advert_budget: float | None = None  # adverts/s per peer (hivemesh's --advert-budget); None: see resolve
    kills: int | None = None  # None: the scenario's default
    kill_at: tuple[float, ...] = ()  # seconds after the first job
    kill_target: str = "busy"
    respawn_delay: float = 1.0  # a killed or departed peer's replacement starts this much later
    #: a killed in-process worker keeps working while its connections close one by
    #: one over this many seconds (a dying machine), then stops; 0: all at once
    slow_death: float = 0.0
    churn_rate: float | None = None  # replacements per second
    burst_size: int | None = None
    burst_every: float = 3.0
    slow_fraction: float = 0.0
    slow_latency: str = "fixed:0s"  # added to every frame a slow peer writes on a direct stream
    clients: int = 1  # observer nodes submitting jobs
    job_timeout: float = 60.0  # the drain: a job with no final event this long after the last arrival is lost
    join_timeout: float = 60.0
    idle: float = 0.0  # seconds the formed mesh idles, measured (CPU, memory per peer), before the first job
    plots: bool = True
    liars: int | None = None  # the liars scenario: lying workers (None: DEFAULT_LIARS there, 0 elsewhere)
    check_share: float = 0.05  # the liars scenario's gateways check this share of a trusted peer's outputs

    @property
    def workers(self) -> int:
        return self.peers - self.gateways

    @property
    def advert_period(self) -> float:
        """The peers' advert period in a mesh of this size (``cadence``); resolved settings only."""
        assert self.advert_budget is not None
        return cadence.advert_period(self.advert_interval, self.peers, self.advert_budget)

    @property
    def store(self) -> str:
        return "redis" if self.redis or self.processes else "memory"

    def latency_dist(self) -> Dist:
        return parse_latency_dist(self.model_latency, "--model-latency")

    def tps_dist(self) -> Dist:
        return parse_rate_dist(self.model_tps, "--model-tps")

    def slow_dist(self) -> Dist:
        return parse_latency_dist(self.slow_latency, "--slow-latency")


def resolve(s: SimSettings) -> SimSettings:
    """Fill in what the scenario and the other settings imply, then ``check``."""
    check_basic(s)
    jobs, rate = _jobs_and_rate(s)
    kills = s.kills if s.kills is not None else (len(s.kill_at) or DEFAULT_KILLS.get(s.scenario, 0))
    churn = s.churn_rate if s.churn_rate is not None else (DEFAULT_CHURN_RATE if s.scenario == "churn" else 0.0)
    burst = s.burst_size if s.burst_size is not None else max(1, math.ceil(jobs / 4))
    budget = s.advert_budget if s.advert_budget is not None else _default_budget(s)
    liars = s.liars if s.liars is not None else (DEFAULT_LIARS if s.scenario == "liars" else 0)
    resolved = replace(s, jobs=jobs, rate=rate, kills=kills, churn_rate=churn, burst_size=burst,
                       advert_budget=budget, liars=liars)
    check(resolved)
    return resolved


def _default_budget(s: SimSettings) -> float:
    """Peer processes: hivemesh's default, or less where the machine's cores cannot
    carry it for N peers (MACHINE_ADVERTS_S_PER_CORE x cores / N: 10 up to 10 peers on
    2 cores, 1 for 100). In-process peers split one process's capacity between them:
    each takes IN_PROCESS_ADVERTS_S / N, so the interval grows as N^2 /
    IN_PROCESS_ADVERTS_S (never below ``advert_interval``)."""
    if s.processes:
        machine = MACHINE_ADVERTS_S_PER_CORE * (os.cpu_count() or 1) / (s.peers + s.clients)
        return min(cadence.DEFAULT_BUDGET, round(machine, 2))
    return IN_PROCESS_ADVERTS_S / (s.peers + s.clients)


def _jobs_and_rate(s: SimSettings) -> tuple[int, float]:
    """Two of jobs, rate, duration give the third; one alone uses the default rate."""
    if s.rate is not None and s.duration is not None:
        if s.jobs is not None:
            raise SimConfigError("give --jobs, or --rate and --duration, not all three")
        return max(1, round(s.rate * s.duration)), s.rate
    if s.jobs is not None and s.duration is not None:
        return s.jobs, s.jobs / s.duration
    return (s.jobs if s.jobs is not None else 20), (s.rate if s.rate is not None else DEFAULT_RATE)


def check_basic(s: SimSettings) -> None:
    """Checks that need nothing resolved."""
    problems = [
        (s.scenario not in SCENARIOS, f"--scenario must be one of {', '.join(SCENARIOS)} (got {s.scenario!r})"),
        (s.gateways < 1, f"--gateways must be >= 1 (got {s.gateways})"),
        (s.peers - s.gateways < 1, f"--peers must exceed --gateways: at least one worker (got {s.peers} "
                                   f"peers, {s.gateways} gateways)"),
        (s.jobs is not None and s.jobs < 1, f"--jobs must be >= 1 (got {s.jobs})"),
        (s.rate is not None and not _pos(s.rate), f"--rate must be > 0 jobs/s (got {s.rate})"),
        (s.duration is not None and not _pos(s.duration), f"--duration must be > 0 s (got {s.duration})"),
        (not 1 <= s.stages <= MAX_STAGES, f"--stages must be in 1..{MAX_STAGES} (got {s.stages})"),
        (s.slots < 1, f"--slots must be >= 1 (got {s.slots})"),
        (s.reply_words < 0, f"--reply-words must be >= 0 (got {s.reply_words})"),
        (not _pos(s.advert_interval), f"--advert-interval must be > 0 s (got {s.advert_interval})"),
        (s.advert_budget is not None and not (math.isfinite(s.advert_budget) and s.advert_budget >= 0),
         f"--advert-budget must be >= 0 adverts/s, 0 for a fixed interval (got {s.advert_budget})"),
        (s.kill_target not in KILL_TARGETS, f"--kill-target must be busy or random (got {s.kill_target!r})"),
        (s.clients < 1, f"--clients must be >= 1 (got {s.clients})"),
        (not _pos(s.job_timeout), f"--job-timeout must be > 0 s (got {s.job_timeout})"),
        (not _pos(s.join_timeout), f"--join-timeout must be > 0 s (got {s.join_timeout})"),
        (not (math.isfinite(s.idle) and s.idle >= 0), f"--idle must be >= 0 s (got {s.idle})"),
        (not (math.isfinite(s.respawn_delay) and s.respawn_delay >= 0), "--respawn-delay must be >= 0 s"),
        (not (math.isfinite(s.slow_death) and s.slow_death >= 0), "--slow-death must be >= 0 s"),
        (s.slow_death > 0 and s.processes, "--slow-death is for in-process peers (a process is killed with -9)"),
        (not (0.0 <= s.slow_fraction <= 1.0), f"--slow-fraction must be in [0, 1] (got {s.slow_fraction})"),
        (not (_pos(s.burst_every)), f"--burst-every must be > 0 s (got {s.burst_every})"),
        (any(not (math.isfinite(t) and t >= 0) for t in s.kill_at), "--kill-at times must be >= 0 s"),
        (s.liars is not None and not 0 <= s.liars <= s.peers - s.gateways,
         f"--liars must be in 0..{s.peers - s.gateways} (the workers; got {s.liars})"),
        (s.liars and s.scenario != "liars", "--liars is for --scenario liars"),
        (s.scenario == "liars" and s.processes, "--scenario liars runs in-process peers (drop --processes)"),
        (not 0.0 <= s.check_share <= 1.0, f"--check-share must be in [0, 1] (got {s.check_share})"),
    ]
    for bad, message in problems:
        if bad:
            raise SimConfigError(message)
    s.latency_dist(), s.tps_dist(), s.slow_dist()  # parse errors are SimConfigErrors too


def check(s: SimSettings) -> None:
    """Checks on resolved settings."""
    assert s.jobs is not None and s.rate is not None and s.kills is not None and s.churn_rate is not None
    problems = [
        (s.kills < 0, f"--kills must be >= 0 (got {s.kills})"),
        (s.kill_at and len(s.kill_at) != s.kills, f"--kill-at names {len(s.kill_at)} moments but --kills is {s.kills}"),
        (s.churn_rate < 0 or not math.isfinite(s.churn_rate), f"--churn-rate must be >= 0 (got {s.churn_rate})"),
        (s.burst_size is not None and s.burst_size < 1, f"--burst-size must be >= 1 (got {s.burst_size})"),
    ]
    for bad, message in problems:
        if bad:
            raise SimConfigError(message)


def _pos(value: float) -> bool:
    return math.isfinite(value) and value > 0
