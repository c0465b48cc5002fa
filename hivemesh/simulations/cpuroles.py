"""Where a run's CPU went, by role: the harness, gateways, workers, Redis.

``CpuMark`` reads the CPU time (user + system, all threads) of this process
and of every process below it (peer processes, the fork server's children,
the throwaway Redis, the bootstrap) at the start of the job phase; ``spent``
reads them again and sums the differences by role. A process that started
meanwhile counts from zero; one that ended meanwhile (a killed peer) loses
what it spent after the mark, which a steady run does not have. Divided by
the completed jobs, that is CPU per job and role: a CPU-bound mesh's
throughput is what it has over that.
"""

from __future__ import annotations

import os

import psutil

#: every role a process below the harness can have; "other": the bootstrap, the fork server
ROLES = ("harness", "gateway", "worker", "redis", "other")


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class CpuMark:
    def __init__(self, roles: dict[int, str]) -> None:
        """``roles``: pid -> role of the peer processes (the rest by name)."""
        self._me = psutil.Process(os.getpid())
        self._start = self._read(roles)

    def _read(self, roles: dict[int, str]) -> dict[int, tuple[str, float]]:
        seen = {self._me.pid: ("harness", _cpu_s(self._me))}
        for child in self._me.children(recursive=True):
            try:
                with child.oneshot():
                    role = roles.get(child.pid) or ("redis" if child.name().startswith("redis") else "other")
                    seen[child.pid] = (role, _cpu_s(child))
            except psutil.Error:
                continue  # it ended just now
        return seen

    def spent(self, roles: dict[int, str]) -> dict[str, float]:
        """CPU seconds each role spent since the mark (every role in ``ROLES``, zero if none)."""
        totals = dict.fromkeys(ROLES, 0.0)
        for pid, (role, now) in self._read(roles).items():
            before = self._start.get(pid)
            totals[role] += now - (before[1] if before is not None and before[0] == role else 0.0)
        return totals


def per_job_ms(spent: dict[str, float], jobs: int) -> dict[str, float] | None:
    """CPU milliseconds per job for each role and in all (``total``); None without a job or a measure."""
    if jobs <= 0 or not spent:
        return None
    ms = {role: round(1000 * s / jobs, 2) for role, s in spent.items()}
    ms["total"] = round(1000 * sum(spent.values()) / jobs, 2)
    return ms
