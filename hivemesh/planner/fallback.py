"""The deterministic fallback plan, built from the job text and inputs (pure).

Used when no planner model is available or a local model's plan is unusable:

- input in several chunks: one ``read_N`` subtask per chunk (or group of
  chunks, to stay within ``max_subtasks``) that notes what the job needs,
  and a ``combine`` subtask that answers from those notes;
- a job that asks for two things ("summarise ... and list keywords"):
  ``step_1`` does the first, ``step_2`` the rest with step 1's output;
- otherwise a single ``answer`` subtask.

Capabilities are picked by keyword from the job text among those the mesh
offers; the plan uses no capability the mesh lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hivemesh.planner.base import PlanRequest
from hivemesh.planner.errors import UnknownCapability
from hivemesh.planner.plan import Plan, Subtask

PLANNER = "fallback"

KEYWORDS: dict[str, tuple[str, ...]] = {
    "summarize": ("summar", "tl;dr", "tldr", "condense", "key points", "overview", "gist"),
    "code": ("code", "function", "python", "javascript", "implement", "script", "program",
             "bug", "refactor", "sql", "regex", "class "),
    "math": ("calculate", "compute", "math", "equation", "solve", "arithmetic", "percent",
             "sum of", "average"),
    "analysis": ("analy", "compare", "classify", "sentiment", "evaluate", "assess", "trend",
                 "insight", "pros and cons"),
    "extract": ("extract", "keyword", "list all", "entities", "names of"),
    "translate": ("translat",),
}

_VERBS = (
    r"list|extract|write|translate|summari[sz]e|explain|give|find|classify|generate|rate|"
    r"count|identify|suggest|create|compute|calculate|analy[sz]e|describe|draft|rewrite|"
    r"answer|name|outline|compare|produce|provide|make|tell"
)
_ASK_SPLIT = re.compile(
    rf"(?:,?\s+and\s+then\s+|,?\s+then\s+|,?\s+and\s+(?:also\s+)?|;\s*|\.\s+(?:then\s+)?|,\s+)"
    rf"(?=(?:{_VERBS})\b)",
    re.IGNORECASE,
)
MAX_SPLIT_JOB_CHARS = 500

MAP_TOKENS = 256
ANSWER_TOKENS = 512


def choose_capability(
    text: str, available: frozenset[str] | None, prefer: Iterable[str] = ("general",)
) -> str:
    """The available capability whose keywords ``text`` hits most, else a preferred one."""

    def usable(cap: str) -> bool:
        return available is None or cap in available

    lowered = text.lower()
    scores = {
        cap: sum(lowered.count(k) for k in words)
        for cap, words in KEYWORDS.items()
        if usable(cap)
    }
    best = max(scores.items(), key=lambda kv: kv[1], default=("", 0))
    if best[1] > 0:
        return best[0]
    for cap in (*prefer, "general"):
        if usable(cap):
            return cap
    if not available:
        raise UnknownCapability("(fallback)", "general", frozenset())
    return sorted(available)[0]


def split_asks(job: str) -> list[str]:
    """The job as one ask, or as two when it plainly asks for two things."""
    text = job.strip()
    if len(text) > MAX_SPLIT_JOB_CHARS:
        return [text]
    parts = _ASK_SPLIT.split(text, maxsplit=1)
    if len(parts) == 2 and all(len(p.strip(" .,;")) >= 3 for p in parts):
        return [parts[0].strip(" .,;"), parts[1].strip(" .,;")]
    return [text]


def fallback_plan(request: PlanRequest) -> Plan:
    """A plan built by rule from ``request``; validated before it is returned."""
    n_chunks = request.n_chunks
    if n_chunks > 1 and request.limits.max_subtasks >= 2:
        plan = _map_reduce(request, n_chunks)
    else:
        asks = split_asks(request.job)
        has_input = bool(request.inputs) and n_chunks > 0
        if len(asks) == 2 and request.limits.max_subtasks >= 2:
            plan = _two_steps(request, asks, has_input)
        else:
            plan = _single(request, has_input)
    return request.check(plan)


def _tokens(request: PlanRequest, wanted: int) -> int:
    return min(wanted, request.limits.max_tokens)


def _literal(text: str) -> str:
    """``text`` made safe to embed in a template (no placeholders)."""
    return text.replace("{{", "{ {").replace("}}", "} }")


def _single(request: PlanRequest, has_input: bool) -> Plan:
    prompt = "{{job}}"
    if has_input:
        prompt += "\n\nInput:\n{{input}}"
    cap = choose_capability(request.job, request.capabilities)
    answer = Subtask("answer", cap, prompt, (), _tokens(request, ANSWER_TOKENS))
    return Plan((answer,), "answer", PLANNER)


def _two_steps(request: PlanRequest, asks: list[str], has_input: bool) -> Plan:
    first, rest = (_literal(a) for a in asks)
    source = "\n\nInput:\n{{input}}" if has_input else ""
    step_1 = Subtask(
        "step_1",
        choose_capability(asks[0], request.capabilities),
        f"Overall task: {{{{job}}}}\n\nDo only this first step now: {first}{source}",
        (),
        _tokens(request, ANSWER_TOKENS),
    )
    step_2 = Subtask(
        "step_2",
        choose_capability(asks[1], request.capabilities),
        f"Overall task: {{{{job}}}}{source}\n\nResult of the first step ({first}):\n"
        f"{{{{out:step_1}}}}\n\nNow do the remaining step: {rest}. Reply with the complete "
        "answer to the overall task, including the first step's result.",
        ("step_1",),
        _tokens(request, ANSWER_TOKENS),
    )
    return Plan((step_1, step_2), "step_2", PLANNER)


def _map_reduce(request: PlanRequest, n_chunks: int) -> Plan:
    groups = _groups(n_chunks, request.limits.max_subtasks - 1)
    read_cap = choose_capability(request.job, request.capabilities, ("summarize", "general"))
    reads = tuple(
        Subtask(
            f"read_{i}",
            read_cap,
            _read_prompt(i, len(groups), group),
            (),
            _tokens(request, MAP_TOKENS),
        )
        for i, group in enumerate(groups)
    )
    notes = "\n\n".join(f"Notes on part {i + 1}:\n{{{{out:{r.id}}}}}" for i, r in enumerate(reads))
    combine = Subtask(
        "combine",
        choose_capability("", request.capabilities, ("general", "summarize")),
        f"Task: {{{{job}}}}\n\nThe input was read in {len(reads)} parts. {notes}\n\n"
        "Using only these notes, complete the task.",
        tuple(r.id for r in reads),
        _tokens(request, ANSWER_TOKENS),
    )
    return Plan((*reads, combine), "combine", PLANNER)


def _read_prompt(index: int, total: int, group: range) -> str:
    text = "\n\n".join(f"{{{{chunk:{c}}}}}" for c in group)
    return (
        f"Task: {{{{job}}}}\n\nBelow is part {index + 1} of {total} of the input. Write down "
        "briefly everything in it that helps with the task; if nothing does, reply "
        f'"nothing relevant".\n\n---\n{text}\n---'
    )


def _groups(n_chunks: int, max_groups: int) -> list[range]:
    """``n_chunks`` consecutive chunk indices cut into at most ``max_groups`` runs."""
    count = min(n_chunks, max_groups)
    base, extra = divmod(n_chunks, count)
    groups, start = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        groups.append(range(start, start + size))
        start += size
    return groups
