"""The rule-based plan: the offline default, made at once from the job (pure).

- Each ask of the job (``asks.read_job``) becomes a subtask on the capability
  its words call for, with that capability's prompt (``skills``); asks run in
  parallel unless one works on the previous one's result.
- Arithmetic stated in words ("add 345 and 1,289, then divide by 7") goes to
  the exact ``math`` tool as an expression (``mathwords``); anything it cannot
  read goes to a model.
- A job of several asks ends in a ``join`` subtask: the parts' outputs under
  labelled sections, in the order the user asked, assembled by the ``join``
  tool (or by a model when no peer offers ``join``).
- Input in several chunks is read map/reduce style: one ``read_N`` subtask per
  chunk (or group of chunks, within ``max_subtasks``) notes what the job
  needs, and the asks work from those notes.

The plan uses no capability the mesh lacks and is validated before it is
returned.
"""

from __future__ import annotations

import re

from hivemesh.planner import skills
from hivemesh.planner.asks import Ask, choose_capability, read_job
from hivemesh.planner.base import PlanRequest
from hivemesh.planner.mathwords import _OPERATION, to_expression
from hivemesh.planner.plan import Plan, Subtask

PLANNER = "rules"
TOOL_CAPABILITIES = frozenset({"math", "join", "count"})
MAP_TOKENS = 256
MATH_TOKENS = 32
JOIN_TOKENS = 1024
#: kind of ask -> the capability whose model serves it (when the mesh has it)
CAPABILITY_OF = {"lookup": "extract", "formulate": "general", "count_items": "extract", "count": "general",
                 "math": "general", "translate": "translate"}


def rule_plan(request: PlanRequest) -> Plan:
    """A plan built by rule from ``request``; validated before it is returned."""
    has_inputs = bool(request.inputs) and request.n_chunks > 0
    job = read_job(request.job, has_inputs)
    asks = _asks(request, job.asks)
    if _cost(request, asks) > request.limits.max_subtasks:  # no room for the parts and a join: one ask
        text = request.job.strip() if not job.material else " ".join(a.text for a in job.asks)
        asks = (Ask(text, "Answer", False, "general"),)
    room = request.limits.max_subtasks - _cost(request, asks)
    reads = _reads(request, room) if request.n_chunks > 1 and room >= 1 else ()
    source = _source(request, job.material, reads)
    single = len(asks) == 1
    steps = [_part(request, ask, "answer" if single else f"part_{i + 1}", source, reads, i)
             for i, ask in enumerate(asks)]
    subtasks = [s for step in steps for s in step]
    if single:
        return request.check(Plan((*reads, *subtasks), steps[0][-1].id, PLANNER))
    final = _join(request, asks, [step[-1] for step in steps])
    return request.check(Plan((*reads, *subtasks, final), final.id, PLANNER))


def _asks(request: PlanRequest, asks: tuple[Ask, ...]) -> tuple[Ask, ...]:
    """The whole job as one ask when all of it is one piece of arithmetic."""
    if len(asks) > 1 and _usable(request, "math") and all(_arithmetic(a.text) for a in asks):
        whole = request.job.strip()
        if to_expression(whole) is not None:
            return (Ask(whole, "Result", False, "math"),)
    return asks


def _cost(request: PlanRequest, asks: tuple[Ask, ...]) -> int:
    """Subtasks the asks take (two for an ask a model prepares for a tool), and a join."""
    return sum(len(_route(request, a)) for a in asks) + (len(asks) > 1)


def _route(request: PlanRequest, ask: Ask) -> tuple[str, ...]:
    """What serves ``ask``, in order: tools where they do the job exactly."""
    if ask.kind == "math" and _usable(request, "math"):
        return ("tool:math",) if to_expression(ask.text) is not None else ("formulate", "tool:math")
    if ask.kind == "count" and _usable(request, "count"):
        return ("tool:count",)
    if ask.kind == "count_items" and _usable(request, "count"):
        return ("extract", "tool:count")
    return (ask.kind,)


def _arithmetic(text: str) -> bool:
    return bool(re.search(r"\d", text) or _OPERATION.search(text.lower()))


def _usable(request: PlanRequest, capability: str) -> bool:
    return request.capabilities is None or capability in request.capabilities


def _source(request: PlanRequest, material: str, reads: tuple[Subtask, ...]) -> str:
    if reads:
        return "\n\n".join(f"Notes on part {i + 1}:\n{{{{out:{r.id}}}}}" for i, r in enumerate(reads))
    if request.inputs and request.n_chunks > 0:
        return "{{input}}"
    return skills.literal(material)


def _part(request: PlanRequest, ask: Ask, sid: str, source: str, reads: tuple[Subtask, ...],
          index: int) -> list[Subtask]:
    """The subtasks of one ask: usually one; two when a model prepares what a
    tool then works out exactly (a word problem's expression, a list to count)."""
    deps = [r.id for r in reads]
    if ask.refers_back and index > 0:
        deps.append(f"part_{index}")
        source = f"{{{{out:part_{index}}}}}"
    route = _route(request, ask)
    if route == ("tool:math",):
        return [Subtask(sid, "math", skills.literal(to_expression(ask.text) or ""), (), MATH_TOKENS)]
    if route == ("tool:count",):
        return [Subtask(sid, "count", f"{ask.detail}\n\n{source}", tuple(deps), MATH_TOKENS)]
    if route == ("formulate", "tool:math"):
        first = _model_subtask(request, f"{sid}_expr", ask.text, "formulate", source, deps)
        return [first, Subtask(sid, "math", f"{{{{out:{first.id}}}}}", (first.id,), MATH_TOKENS)]
    if route == ("extract", "tool:count"):
        listing = f"List the {ask.detail} {'named' if 'name' in ask.text.lower() else 'mentioned'}"
        first = _model_subtask(request, f"{sid}_list", listing, "extract", source, deps)
        return [first, Subtask(sid, "count", f"items\n\n{{{{out:{first.id}}}}}", (first.id,), MATH_TOKENS)]
    return [_model_subtask(request, sid, ask.text, ask.kind, source, deps)]


def _model_subtask(request: PlanRequest, sid: str, ask: str, kind: str, source: str, deps: list[str]) -> Subtask:
    models = None if request.capabilities is None else request.capabilities - TOOL_CAPABILITIES
    wanted = CAPABILITY_OF.get(kind, kind)
    capability = wanted if models is None or wanted in models else choose_capability(ask, models)
    chosen, template = skills.prompt(ask, kind, source)
    return Subtask(sid, capability, template, tuple(deps),
                   min(chosen.max_tokens, request.limits.max_tokens), chosen.format, chosen.stop)


def _join(request: PlanRequest, asks: tuple[Ask, ...], parts: list[Subtask]) -> Subtask:
    sections = "\n\n".join(f"{ask.label}:\n{{{{out:{p.id}}}}}" for ask, p in zip(asks, parts, strict=True))
    deps = tuple(p.id for p in parts)
    if _usable(request, "join"):
        return Subtask("join", "join", sections, deps, min(JOIN_TOKENS, request.limits.max_tokens))
    capability = choose_capability("", request.capabilities, ("general",))
    template = ("Copy these sections into one answer, in this order, keeping every part:\n\n" + sections)
    return Subtask("join", capability, template, deps, request.limits.max_tokens)


def _reads(request: PlanRequest, room: int) -> tuple[Subtask, ...]:
    groups = _groups(request.n_chunks, max(1, room))
    models = None if request.capabilities is None else request.capabilities - TOOL_CAPABILITIES
    read_cap = choose_capability(request.job, models, ("summarize", "general"))
    if read_cap not in ("summarize", "general", "extract", "analysis"):
        read_cap = choose_capability("", models, ("summarize", "general"))
    return tuple(
        Subtask(f"read_{i}", read_cap, _read_prompt(i, len(groups), group), (),
                min(MAP_TOKENS, request.limits.max_tokens))
        for i, group in enumerate(groups)
    )


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
