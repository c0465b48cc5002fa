"""PNG plots of a run, with matplotlib (Agg backend), imported only here.

``write_plots`` returns the files written, or raises ``PlotsUnavailable``
when matplotlib is not installed (the caller notes it in the report).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hivemesh.simulations.tracker import FaultTrace, JobTrace

FAULT_COLOURS = {"kill-worker": "tab:red", "kill-gateway": "tab:purple", "leave": "tab:orange"}


class PlotsUnavailable(Exception):
    pass


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("matplotlib is not installed (pip install matplotlib); no plots") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(out: Path, jobs: list[JobTrace], faults: list[FaultTrace], per_peer: list[dict[str, Any]],
                title: str) -> list[Path]:
    plt = _pyplot()
    return [
        _latency(plt, out / "latency.png", jobs, faults, title),
        _throughput(plt, out / "throughput.png", jobs, faults, title),
        _peer_load(plt, out / "peer_load.png", per_peer, title),
    ]


def _mark_faults(ax: Any, faults: list[FaultTrace]) -> None:
    seen: set[str] = set()
    for f in faults:
        ax.axvline(f.at, color=FAULT_COLOURS.get(f.kind, "grey"), alpha=0.5, linewidth=0.8,
                   label=None if f.kind in seen else f.kind)
        seen.add(f.kind)


def _latency(plt: Any, path: Path, jobs: list[JobTrace], faults: list[FaultTrace], title: str) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    done = [(j.submitted_at, j.latency_s) for j in jobs if j.outcome == "completed" and j.latency_s is not None]
    bad = [(j.submitted_at, j.latency_s or 0.0) for j in jobs if j.outcome in ("failed", "lost")]
    if done:
        ax.scatter(*zip(*done), s=8, label="completed")
    if bad:
        ax.scatter(*zip(*bad), s=20, marker="x", color="black", label="failed/lost")
    _mark_faults(ax, faults)
    ax.set(xlabel="submitted at (s)", ylabel="job latency (s)", title=f"Job latency - {title}")
    ax.legend(loc="upper left", fontsize=8)
    return _save(plt, fig, path)


def _throughput(plt: Any, path: Path, jobs: list[JobTrace], faults: list[FaultTrace], title: str) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    ends = sorted(j.finished_at for j in jobs if j.outcome == "completed" and j.finished_at is not None)
    if ends:
        width = max(1.0, math.ceil(ends[-1] / 60))
        bins = [i * width for i in range(int(ends[-1] // width) + 2)]
        ax.hist(ends, bins=bins, weights=[1 / width] * len(ends), label=f"completed jobs/s ({width:g} s bins)")
    _mark_faults(ax, faults)
    ax.set(xlabel="time (s)", ylabel="jobs/s", title=f"Throughput - {title}")
    ax.legend(loc="upper left", fontsize=8)
    return _save(plt, fig, path)


def _peer_load(plt: Any, path: Path, per_peer: list[dict[str, Any]], title: str) -> Path:
    per_peer = sorted(per_peer, key=_slot_order)
    workers = [p for p in per_peer if p["role"] == "worker"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.25 * len(per_peer)), 6), sharex=False)
    top.bar([p["name"] for p in workers], [p["subtasks_finished"] for p in workers], color="tab:blue")
    top.set(ylabel="subtasks finished", title=f"Per-peer load - {title}")
    names = [p["name"] for p in per_peer]
    cpu = [p["cpu_percent"] for p in per_peer]
    if any(c is not None for c in cpu):
        bottom.bar(names, [c or 0 for c in cpu], color="tab:green")
        bottom.set(ylabel="CPU % (mean)")
    else:
        bottom.bar(names, [p["gossip_msgs_s"] for p in per_peer], color="tab:gray")
        bottom.set(ylabel="adverts in+out per s")
    for ax in (top, bottom):
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    return _save(plt, fig, path)


def _slot_order(row: dict[str, Any]) -> tuple[str, int, int]:
    """g0, g1, w0, w0.1, w0.2, w1, ... (role, slot, generation)."""
    slot, _, generation = row["name"][1:].partition(".")
    return row["role"], int(slot), int(generation or 0)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
