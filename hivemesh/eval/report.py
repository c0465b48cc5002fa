"""The numbers of a run (pure): per-system summary, the JSON, the table.

- ``score``: mean task score (a task's score is the mean of its parts');
- ``coverage``: share of the parts of multi-part tasks that the answer
  addressed (``addressed``: an answer of the part's form, right or wrong;
  None when the run has none), and ``multi_parts_satisfied``: the share that
  also passed their check;
- ``by_capability``: mean task score per capability;
- ``cloud_tokens``/``mesh_tokens``/``usd``: totals over the run;
- ``latency_s``: p50/p95 of the per-task wall time (linear interpolation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hivemesh.eval.runner import SYSTEMS, Result
from hivemesh.eval.suite import CAPABILITIES

SHORT = {"summarize": "sum", "extract": "ext", "math": "math", "word_problems": "wp", "code": "code",
         "classify": "cls", "multi": "multi"}


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def system_summary(results: Sequence[Result]) -> dict[str, Any]:
    """The summary of one system's results."""
    multi = [r for r in results if len(r.task.parts) > 1]
    multi_parts = sum(len(r.task.parts) for r in multi)
    by_cap = {c: _mean([r.score.score for r in results if r.task.capability == c]) for c in CAPABILITIES}
    seconds = [r.answer.seconds for r in results]
    return {
        "score": _round(_mean([r.score.score for r in results])),
        "coverage": _round(sum(r.score.addressed for r in multi) / multi_parts) if multi_parts else None,
        "multi_parts_satisfied": _round(sum(r.score.satisfied for r in multi) / multi_parts) if multi_parts else None,
        "by_capability": {c: _round(v) for c, v in by_cap.items() if v is not None},
        "parts_satisfied": _round(sum(r.score.satisfied for r in results) /
                                  max(1, sum(len(r.task.parts) for r in results))),
        "cloud_tokens": sum(r.answer.cloud_tokens for r in results),
        "cloud_input_tokens": sum(r.answer.cloud_input_tokens for r in results),
        "cloud_output_tokens": sum(r.answer.cloud_output_tokens for r in results),
        "mesh_tokens": sum(r.answer.mesh_tokens for r in results),
        "usd": round(sum(r.answer.usd for r in results), 6),
        "latency_s": {"p50": _round(percentile(seconds, 0.5)), "p95": _round(percentile(seconds, 0.95))},
        "seconds_total": _round(sum(seconds)),
        "errors": sum(1 for r in results if r.answer.error),
        "tasks": len(results),
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def summarize(results: Sequence[Result], ran: Sequence[str], skipped: Mapping[str, str],
              tasks: int) -> dict[str, Any]:
    """The ``--json`` object: every known system, null when it did not run."""
    systems: dict[str, Any] = {}
    for name in [*SYSTEMS, *(s for s in ran if s not in SYSTEMS)]:
        mine = [r for r in results if r.system == name]
        systems[name] = system_summary(mine) if name in ran else None
    return {"tasks": tasks, "systems": systems, "skipped": dict(skipped)}


def _cell(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_table(summary: Mapping[str, Any]) -> str:
    caps = list(CAPABILITIES)
    head = ["system", "score", "cover", "pass", *(SHORT[c] for c in caps), "cloud tok", "mesh tok", "USD", "p50 s",
            "p95 s", "err"]
    rows = [head]
    for name, s in summary["systems"].items():
        if s is None:
            continue
        rows.append([name, _cell(s["score"]), _cell(s["coverage"]), _cell(s["multi_parts_satisfied"]),
                     *(_cell(s["by_capability"].get(c)) for c in caps),
                     str(s["cloud_tokens"]), str(s["mesh_tokens"]), f"{s['usd']:.4f}",
                     _cell(s["latency_s"]["p50"], "{:.1f}"), _cell(s["latency_s"]["p95"], "{:.1f}"), str(s["errors"])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.append(f"{summary['tasks']} tasks; score = mean task score; on multi-part tasks, cover = share of parts "
                 "answered, pass = share of parts answered right; "
                 + ", ".join(f"{v}={k}" for k, v in SHORT.items() if k != v))
    for name, why in summary.get("skipped", {}).items():
        if why != "not requested":
            lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)
