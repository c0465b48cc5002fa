"""Whether a run measured the mesh or the harness: a pure verdict.

The harness (clients, tracker, sampler and, in-process, every peer) runs on
one trio event loop. When that loop is starved, leases, deadlines and
timeouts expire because the harness was slow, not the mesh, and the run's
figures describe the harness. ``verdict`` turns what the sampler measured
(the process's CPU time over the wall time, and how late a short sleep woke)
into a plain answer for the report.
"""

from __future__ import annotations

from typing import Any

#: one Python event loop can use at most one core; past this share it is saturated
MAX_CPU_FRACTION = 0.85
#: a 50 ms probe sleep that wakes this much late at the 99th percentile means a starved loop
MAX_LAG_P99_S = 0.1
#: the whole machine's CPUs this busy (every process, ours and others') over the run: saturated
MAX_MACHINE_BUSY = 0.9


def verdict(cpu_s: float, wall_s: float, lag_p99_s: float | None, mode: str,
            machine_busy: float | None = None, cores: int = 1) -> dict[str, Any]:
    """``cpu_s`` of process CPU time over ``wall_s``; ``lag_p99_s`` the probe's
    lateness; ``machine_busy`` the share of the machine's ``cores`` busy meanwhile."""
    cpu_fraction = cpu_s / wall_s if wall_s > 0 else 0.0
    why = []
    if cpu_fraction >= MAX_CPU_FRACTION:
        why.append(f"its process used {cpu_fraction * 100:.0f}% of a core")
    if lag_p99_s is not None and lag_p99_s >= MAX_LAG_P99_S:
        why.append(f"its event loop woke {lag_p99_s * 1e3:.0f} ms late (p99)")
    machine = machine_busy is not None and machine_busy >= MAX_MACHINE_BUSY
    if machine:
        why.append(f"the machine's {cores} cores were {machine_busy * 100:.0f}% busy")
    saturated = bool(why)
    if not saturated:
        advice = ""
    elif machine and cpu_fraction < MAX_CPU_FRACTION:
        advice = ("the machine, not this process, ran out of CPU (other work, or the peers themselves): "
                  "timings are the machine's; rerun on an idle machine, with fewer peers or a lower --rate")
    elif mode == "in-process":
        advice = ("the figures measure the harness, not the mesh: rerun with --processes "
                  "(each peer its own process), or with fewer peers or a lower --rate")
    else:
        advice = ("the clients in the harness could not keep up: the figures understate the mesh; "
                  "rerun with a lower --rate or fewer --clients")
    return {"saturated": saturated, "cpu_fraction": round(cpu_fraction, 3),
            "machine_busy": None if machine_busy is None else round(machine_busy, 3), "cores": cores,
            "loop_lag_p99_s": None if lag_p99_s is None else round(lag_p99_s, 4),
            "why": "; ".join(why), "advice": advice,
            "limits": {"cpu_fraction": MAX_CPU_FRACTION, "loop_lag_p99_s": MAX_LAG_P99_S,
                       "machine_busy": MAX_MACHINE_BUSY}}


def headline(harness: dict[str, Any]) -> str:
    """The warning the report's table opens with ("" when the harness kept up)."""
    if not harness.get("saturated"):
        return ""
    return f"WARNING: the harness was saturated ({harness['why']}); {harness['advice']}"
