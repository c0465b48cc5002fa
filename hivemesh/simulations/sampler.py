"""Periodic measurements during a run: CPU and memory per peer, the event
loop's lag, whether the clients' views hold every live peer.

Peer processes are measured one by one with psutil. In-process peers share
this process, so only the process as a whole can be measured; the report
divides it by the number of peers and says so.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import psutil
import trio

from hivemesh.simulations.fleet import Fleet

log = logging.getLogger(__name__)

EVERY_S = 1.0
LAG_PROBE_S = 0.05


@dataclass
class Usage:
    cpu_percent: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)


@dataclass
class IdleUsage:
    """Each peer's share of a core and RSS over the idle phase, from its CPU time."""

    seconds: float
    cpu_percent: dict[str, float]  # peer name -> % of one core
    rss_bytes: dict[str, int]
    uss_bytes: dict[str, int]  # memory only this process holds (RSS counts shared libraries in every peer)
    pss_bytes: dict[str, int]  # its own pages plus its share of each shared page: sums to what the peers use
    harness_cpu_percent: float  # this process (in-process: every peer, and the clients)
    harness_rss_bytes: int


@dataclass
class Samples:
    per_peer: dict[str, Usage] = field(default_factory=dict)  # peer name -> usage (processes)
    harness: Usage = field(default_factory=Usage)  # this process (all in-process peers, the clients)
    loop_lag_s: list[float] = field(default_factory=list)
    view_missing: list[tuple[float, int]] = field(default_factory=list)  # (harness clock, peers missing)
    idle: IdleUsage | None = None  # the idle phase (``--idle``), when there was one
    harness_cpu_s: float = 0.0  # this process's CPU time (user + system, all threads) since the sampler began
    harness_wall_s: float = 0.0  # wall time over the same span
    machine_busy: float | None = None  # share of all the machine's cores busy over the same span (any process)
    job_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds by role over the jobs (``cpuroles``)


class Sampler:
    def __init__(self, fleet: Fleet, origin: float) -> None:
        self.fleet, self.origin = fleet, origin
        self.samples = Samples()
        self._procs: dict[int, psutil.Process] = {}
        self._me = psutil.Process(os.getpid())
        self._me.cpu_percent(None)
        self._cpu0, self._wall0 = _cpu_s(self._me), time.monotonic()
        self._machine0 = psutil.cpu_times()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._lag_loop)
            while True:
                self.sample()
                await trio.sleep(EVERY_S)

    def sample(self) -> None:
        self._measure(self._me, self.samples.harness)
        self.samples.harness_cpu_s = _cpu_s(self._me) - self._cpu0
        self.samples.harness_wall_s = time.monotonic() - self._wall0
        self.samples.machine_busy = _busy(self._machine0, psutil.cpu_times())
        for peer in self.fleet.peers:
            if peer.alive and peer.pid is not None:
                proc = self._proc(peer.pid)
                if proc is not None:
                    self._measure(proc, self.samples.per_peer.setdefault(peer.name, Usage()))
        self.fleet.refresh_all()
        missing = self.fleet.missing_from_views()
        self.samples.view_missing.append((time.monotonic() - self.origin, missing))
        if missing and log.isEnabledFor(logging.INFO):  # the detail is built only to be logged
            log.info("views incomplete at %.1f s: %s", time.monotonic() - self.origin,
                     "; ".join(self.fleet.missing_detail()))

    def _proc(self, pid: int) -> psutil.Process | None:
        """The process, or None on first sight (the first reading only starts the clock)."""
        proc = self._procs.get(pid)
        if proc is not None:
            return proc
        try:
            proc = self._procs[pid] = psutil.Process(pid)
            proc.cpu_percent(None)
        except psutil.Error:
            pass
        return None

    @staticmethod
    def _measure(proc: psutil.Process, usage: Usage) -> None:
        try:
            with proc.oneshot():
                cpu, rss = proc.cpu_percent(None), proc.memory_info().rss
        except psutil.Error:
            return  # it died between samples
        usage.cpu_percent.append(cpu)
        usage.rss_bytes.append(rss)

    async def measure_idle(self, seconds: float) -> IdleUsage:
        """Sleep ``seconds`` and measure what every live peer (and this process) cost meanwhile."""
        procs = {p.name: self._proc(p.pid) or self._procs.get(p.pid) for p in self.fleet.peers
                 if p.alive and p.pid is not None}
        before = {name: _cpu_s(proc) for name, proc in procs.items() if proc is not None and _alive(proc)}
        me0, t0 = _cpu_s(self._me), time.monotonic()
        await trio.sleep(seconds)
        wall = time.monotonic() - t0
        cpu, rss, uss, pss = {}, {}, {}, {}
        for name, start in before.items():
            proc = procs[name]
            assert proc is not None
            try:
                with proc.oneshot():
                    cpu[name], memory = 100 * (_cpu_s(proc) - start) / wall, proc.memory_full_info()
                    rss[name], uss[name], pss[name] = memory.rss, memory.uss, memory.pss
            except psutil.Error:
                continue  # it died meanwhile
        idle = IdleUsage(wall, cpu, rss, uss, pss, 100 * (_cpu_s(self._me) - me0) / wall, self._me.memory_info().rss)
        self.samples.idle = idle
        return idle

    async def _lag_loop(self) -> None:
        while True:
            start = time.monotonic()
            await trio.sleep(LAG_PROBE_S)
            self.samples.loop_lag_s.append(max(0.0, time.monotonic() - start - LAG_PROBE_S))


def _busy(before: object, after: object) -> float | None:
    """Share of the machine's CPU time between two ``psutil.cpu_times()`` that was not idle."""
    total = sum(after) - sum(before)  # type: ignore[call-overload]
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))  # type: ignore[attr-defined]
    return None if total <= 0 else max(0.0, min(1.0, 1 - idle / total))


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running()
    except psutil.Error:
        return False


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system
