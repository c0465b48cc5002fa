"""What a run leaves under ``--out``: ``eval.json``, ``results.csv``, ``eval.png``."""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hivemesh.eval.runner import Result

log = logging.getLogger(__name__)

CSV_FIELDS = ("task", "capability", "system", "score", "satisfied_parts", "parts", "seconds", "cloud_input_tokens",
              "cloud_output_tokens", "mesh_tokens", "usd", "error", "parts_detail", "detail", "answer_excerpt")


def excerpt(text: str, limit: int = 200) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def result_row(r: Result) -> dict[str, Any]:
    return {
        "task": r.task.id, "capability": r.task.capability, "system": r.system,
        "score": round(r.score.score, 4), "satisfied_parts": r.score.satisfied, "parts": len(r.task.parts),
        "seconds": round(r.answer.seconds, 3), "cloud_input_tokens": r.answer.cloud_input_tokens,
        "cloud_output_tokens": r.answer.cloud_output_tokens, "mesh_tokens": r.answer.mesh_tokens,
        "usd": round(r.answer.usd, 6), "error": r.answer.error,
        "parts_detail": "; ".join(f"{p.name}={p.score:.2f}{'' if p.satisfied else ' (unmet)'}"
                                  f"{'' if p.addressed else ' (missing)'}" for p in r.score.parts),
        "detail": r.answer.detail, "answer_excerpt": excerpt(r.answer.text),
    }


def write_all(out: Path, summary: Mapping[str, Any], results: Sequence[Result],
              meta: Mapping[str, Any]) -> list[str]:
    """Write the run's files; returns notes (e.g. a plot that could not be made)."""
    out.mkdir(parents=True, exist_ok=True)
    full = {**summary, "meta": dict(meta), "results": [
        {**result_row(r), "answer": r.answer.text,
         "part_scores": [{"name": p.name, "kind": p.kind, "score": round(p.score, 4), "satisfied": p.satisfied,
                          "addressed": p.addressed,
                          "segment": p.segment} for p in r.score.parts]} for r in results]}
    (out / "eval.json").write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(result_row(r) for r in results)
    notes = []
    try:
        write_plot(out / "eval.png", summary)
    except Exception as exc:  # matplotlib missing or broken: the numbers are still written
        log.warning("eval: plot failed: %s", exc)
        notes.append(f"no plot: {type(exc).__name__}: {exc}")
    return notes


def write_plot(path: Path, summary: Mapping[str, Any]) -> None:
    """Score against cost and against latency, one point per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = {n: s for n, s in summary["systems"].items() if s is not None and s["score"] is not None}
    fig, (cost_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, s in ran.items():
        for ax, x in ((cost_ax, s["usd"]), (time_ax, s["latency_s"]["p50"] or 0.0)):
            ax.scatter([x], [s["score"]], s=60)
            ax.annotate(name, (x, s["score"]), textcoords="offset points", xytext=(6, 4))
    cost_ax.set_xlabel("cloud cost of the run (USD)")
    time_ax.set_xlabel("latency per task, p50 (s)")
    for ax in (cost_ax, time_ax):
        ax.set_ylabel("score (mean task score)")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
    fig.suptitle(f"hivemesh eval: {summary['tasks']} tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
