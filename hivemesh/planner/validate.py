"""Plan validation and DAG ordering (pure).

``validate`` checks a plan against the mesh's capabilities and the limits and
returns it normalised: subtasks in a stable topological order, duplicate
dependency ids dropped, and subtasks the answer does not depend on removed
(their output would reach no one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace

from hivemesh.planner.errors import (
    BadAnswer,
    BadSubtaskId,
    BadTemplate,
    DuplicateSubtask,
    EmptyPlan,
    PlanCycle,
    PlanTooLarge,
    PromptTooLong,
    TokenLimitExceeded,
    UnknownCapability,
    UnknownDependency,
)
from hivemesh.planner.plan import ID_PATTERN, Plan, PlanLimits, Subtask
from hivemesh.planner.template import refs

log = logging.getLogger(__name__)

_ID = re.compile(ID_PATTERN)
DEFAULT_LIMITS = PlanLimits()


def validate(
    plan: Plan,
    capabilities: Iterable[str] | None = None,
    limits: PlanLimits = DEFAULT_LIMITS,
    *,
    n_inputs: int | None = None,
    n_chunks: int | None = None,
) -> Plan:
    """Check ``plan``; return it normalised or raise an ``InvalidPlan`` subclass.

    ``capabilities`` is what the mesh offers (``None``: do not check).
    ``n_inputs``/``n_chunks``, when known, bound ``{{input:K}}``/``{{chunk:N}}``.
    """
    caps = frozenset(capabilities) if capabilities is not None else None
    _check_shape(plan, limits)
    ids = {s.id for s in plan.subtasks}
    for s in plan.subtasks:
        _check_subtask(s, ids, caps, limits)
        _check_template(s, n_inputs, n_chunks)
    order = topological_order(plan)
    return _normalise(plan, order)


def _check_shape(plan: Plan, limits: PlanLimits) -> None:
    if not plan.subtasks:
        raise EmptyPlan("plan has no subtasks")
    if len(plan.subtasks) > limits.max_subtasks:
        raise PlanTooLarge(
            f"plan has {len(plan.subtasks)} subtasks; the limit is {limits.max_subtasks}"
        )
    seen: set[str] = set()
    for s in plan.subtasks:
        if not _ID.match(s.id):
            raise BadSubtaskId(
                f"subtask id {s.id!r} is not valid: use a letter then up to 39 "
                "letters, digits, '_' or '-'"
            )
        if s.id in seen:
            raise DuplicateSubtask(f"subtask id {s.id!r} is used more than once")
        seen.add(s.id)
    if plan.answer not in seen:
        raise BadAnswer(
            f"answer {plan.answer!r} is not a subtask id (ids: {', '.join(sorted(seen))})"
        )


def _check_subtask(
    s: Subtask, ids: set[str], caps: frozenset[str] | None, limits: PlanLimits
) -> None:
    if not s.capability.strip():
        raise UnknownCapability(s.id, s.capability, caps or frozenset())
    if caps is not None and s.capability not in caps:
        raise UnknownCapability(s.id, s.capability, caps)
    if not 1 <= s.max_tokens <= limits.max_tokens:
        raise TokenLimitExceeded(
            f"subtask {s.id!r} asks for max_tokens={s.max_tokens}; "
            f"it must be between 1 and {limits.max_tokens}"
        )
    if not s.prompt.strip():
        raise BadTemplate(f"subtask {s.id!r} has an empty prompt")
    if len(s.prompt) > limits.max_prompt_chars:
        raise PromptTooLong(
            f"subtask {s.id!r} prompt template is {len(s.prompt)} characters; "
            f"the limit is {limits.max_prompt_chars}"
        )
    for dep in s.depends_on:
        if dep not in ids:
            raise UnknownDependency(f"subtask {s.id!r} depends on unknown subtask {dep!r}")


def _check_template(s: Subtask, n_inputs: int | None, n_chunks: int | None) -> None:
    try:
        found = refs(s.prompt)
    except BadTemplate as exc:
        raise BadTemplate(f"subtask {s.id!r}: {exc}") from None
    for ref in found:
        if ref.kind == "out" and ref.arg not in s.depends_on:
            deps = ", ".join(s.depends_on) or "nothing"
            raise BadTemplate(
                f"subtask {s.id!r} uses {ref.text} but does not depend on "
                f"{ref.arg!r} (it depends on {deps}); add it to depends_on"
            )
        limit = n_chunks if ref.kind == "chunk" else n_inputs if ref.kind == "input" else None
        if limit is not None and ref.arg is not None and int(ref.arg) >= limit:
            raise BadTemplate(
                f"subtask {s.id!r} uses {ref.text} but the job has {limit} "
                f"{ref.kind}(s), numbered from 0"
            )


def _normalise(plan: Plan, order: list[str]) -> Plan:
    needed = _ancestors(plan, plan.answer) | {plan.answer}
    dropped = [i for i in order if i not in needed]
    if dropped:
        log.info("plan: dropping subtasks the answer does not use: %s", ", ".join(dropped))
    by_id = {s.id: s for s in plan.subtasks}
    subtasks = tuple(_dedupe_deps(by_id[i]) for i in order if i in needed)
    return Plan(subtasks=subtasks, answer=plan.answer, planner=plan.planner)


def _dedupe_deps(s: Subtask) -> Subtask:
    deps = tuple(dict.fromkeys(s.depends_on))
    if deps == s.depends_on:
        return s
    return replace(s, depends_on=deps)


def _ancestors(plan: Plan, subtask_id: str) -> set[str]:
    deps = {s.id: s.depends_on for s in plan.subtasks}
    seen: set[str] = set()
    stack = list(deps[subtask_id])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(deps.get(current, ()))
    return seen


def topological_order(plan: Plan) -> list[str]:
    """Subtask ids, each after its dependencies (wave by wave, plan order within).

    Raises ``UnknownDependency`` or ``PlanCycle`` (naming the cycle).
    """
    deps = {s.id: tuple(dict.fromkeys(s.depends_on)) for s in plan.subtasks}
    for sid, ds in deps.items():
        for d in ds:
            if d not in deps:
                raise UnknownDependency(f"subtask {sid!r} depends on unknown subtask {d!r}")
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(deps):
        ready = [i for i in deps if i not in placed and all(d in placed for d in deps[i])]
        if not ready:
            raise PlanCycle(_find_cycle(deps, placed))
        done.extend(ready)
        placed.update(ready)
    return done


def _find_cycle(deps: dict[str, tuple[str, ...]], placed: set[str]) -> tuple[str, ...]:
    """A cycle among the unplaced subtasks, first id repeated at the end."""
    start = next(i for i in deps if i not in placed)
    path: list[str] = [start]
    index = {start: 0}
    while True:
        nxt = next(d for d in deps[path[-1]] if d not in placed)
        if nxt in index:
            cycle = path[index[nxt] :]
            return (*cycle, nxt)
        index[nxt] = len(path)
        path.append(nxt)


def levels(plan: Plan) -> list[list[str]]:
    """Ids grouped into waves: every subtask of a wave can run in parallel."""
    depth: dict[str, int] = {}
    deps = {s.id: s.depends_on for s in plan.subtasks}
    order = topological_order(plan)
    for sid in order:
        depth[sid] = 1 + max((depth[d] for d in deps[sid]), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for sid in order:
        waves[depth[sid]].append(sid)
    return waves
