"""Plan validation rules, normalisation, topological order and levels."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hivemesh.planner.errors import (
    BadAnswer,
    BadSubtaskId,
    BadTemplate,
    DuplicateSubtask,
    EmptyPlan,
    InvalidPlan,
    PlanCycle,
    PlanTooLarge,
    PromptTooLong,
    TokenLimitExceeded,
    UnknownCapability,
    UnknownDependency,
)
from hivemesh.planner.plan import Plan, PlanLimits, Subtask
from hivemesh.planner.validate import levels, topological_order, validate

CAPS = {"summarize", "general", "code"}


def task(sid: str, deps: tuple[str, ...] = (), prompt: str | None = None,
         cap: str = "general", max_tokens: int = 100) -> Subtask:
    if prompt is None:
        prompt = "do it " + " ".join(f"{{{{out:{d}}}}}" for d in deps)
    return Subtask(sid, cap, prompt, deps, max_tokens)


def plan(*subtasks: Subtask, answer: str | None = None) -> Plan:
    return Plan(tuple(subtasks), answer or subtasks[-1].id, "test")


def test_valid_plan_comes_back_in_topological_order() -> None:
    p = plan(task("c", ("a", "b")), task("a"), task("b", ("a",)), answer="c")
    checked = validate(p, CAPS, PlanLimits())
    assert checked.ids == ("a", "b", "c")
    assert checked.answer == "c" and checked.planner == "test"


def test_subtasks_the_answer_does_not_use_are_dropped() -> None:
    p = plan(task("a"), task("unused"), task("b", ("a",)))
    assert validate(p).ids == ("a", "b")


def test_duplicate_dependencies_are_collapsed() -> None:
    p = plan(task("a"), task("b", ("a", "a"), prompt="{{out:a}}"))
    assert validate(p).subtask("b").depends_on == ("a",)


def test_capabilities_none_skips_the_mesh_check() -> None:
    assert validate(plan(task("a", cap="exotic"))).ids == ("a",)


def check(p: Plan, error: type[InvalidPlan], message: str, **kwargs: object) -> InvalidPlan:
    limits = kwargs.pop("limits", PlanLimits())
    with pytest.raises(error, match=re.escape(message)) as info:
        validate(p, kwargs.pop("caps", CAPS), limits, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_empty_plan() -> None:
    check(Plan((), "x", "test"), EmptyPlan, "plan has no subtasks")


def test_too_many_subtasks() -> None:
    p = plan(*(task(f"t{i}") for i in range(5)))
    check(p, PlanTooLarge, "plan has 5 subtasks; the limit is 4", limits=PlanLimits(max_subtasks=4))


@pytest.mark.parametrize("bad", ["", "1st", "has space", "a}}b", "x:y", "a" * 41, "ünï"])
def test_bad_id_format(bad: str) -> None:
    check(plan(task(bad)), BadSubtaskId, f"subtask id {bad!r} is not valid")


def test_duplicate_id() -> None:
    check(plan(task("a"), task("a")), DuplicateSubtask, "subtask id 'a' is used more than once")


def test_answer_not_a_subtask() -> None:
    check(plan(task("a"), task("b"), answer="c"), BadAnswer,
          "answer 'c' is not a subtask id (ids: a, b)")


def test_unknown_dependency() -> None:
    check(plan(task("a", ("ghost",))), UnknownDependency,
          "subtask 'a' depends on unknown subtask 'ghost'")


def test_cycle_is_named() -> None:
    p = plan(task("start"), task("a", ("c",)), task("b", ("a",)), task("c", ("b", "start")),
             task("end", ("c",)))
    err = check(p, PlanCycle, "plan has a dependency cycle: ")
    assert isinstance(err, PlanCycle)
    cycle = err.cycle
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"} and len(cycle) == 4
    assert " -> ".join(cycle) in str(err)


def test_self_dependency_is_a_cycle() -> None:
    err = check(plan(task("a", ("a",))), PlanCycle, "a -> a")
    assert err.cycle == ("a", "a")  # type: ignore[attr-defined]


def test_template_uses_output_it_does_not_depend_on() -> None:
    p = plan(task("a"), task("b"), task("c", ("a",), prompt="{{out:a}} {{out:b}}"), answer="c")
    check(p, BadTemplate, "subtask 'c' uses {{out:b}} but does not depend on 'b' "
          "(it depends on a); add it to depends_on")


def test_template_unknown_placeholder_names_the_subtask() -> None:
    check(plan(task("a", prompt="{{result}}")), BadTemplate,
          "subtask 'a': unknown placeholder {{result}}")


def test_template_chunk_out_of_range() -> None:
    p = plan(task("a", prompt="{{chunk:3}}"))
    check(p, BadTemplate, "subtask 'a' uses {{chunk:3}} but the job has 3 chunk(s)", n_chunks=3)
    assert validate(p, CAPS, n_chunks=4).ids == ("a",)
    check(plan(task("a", prompt="{{input:1}}")), BadTemplate, "the job has 1 input(s)",
          n_inputs=1)


def test_capability_missing_names_it_and_the_available_ones() -> None:
    err = check(plan(task("a", cap="math")), UnknownCapability,
                "subtask 'a' needs capability 'math', which no peer in the mesh offers "
                "(available: code, general, summarize)")
    assert err.missing == "math"  # type: ignore[attr-defined]
    assert err.available == CAPS  # type: ignore[attr-defined]
    check(plan(task("a")), UnknownCapability, "(available: none)", caps=set())


def test_prompt_too_long() -> None:
    check(plan(task("a", prompt="x" * 101)), PromptTooLong,
          "subtask 'a' prompt template is 101 characters; the limit is 100",
          limits=PlanLimits(max_prompt_chars=100))


def test_empty_prompt() -> None:
    check(plan(task("a", prompt="  ")), BadTemplate, "subtask 'a' has an empty prompt")


@pytest.mark.parametrize("tokens", [0, -5, 513])
def test_max_tokens_out_of_range(tokens: int) -> None:
    check(plan(task("a", max_tokens=tokens)), TokenLimitExceeded,
          f"subtask 'a' asks for max_tokens={tokens}; it must be between 1 and 512",
          limits=PlanLimits(max_tokens=512))


def test_levels_group_parallel_subtasks() -> None:
    p = plan(task("r0"), task("r1"), task("r2"), task("m", ("r0", "r1")),
             task("final", ("m", "r2")))
    assert levels(p) == [["r0", "r1", "r2"], ["m"], ["final"]]
    assert topological_order(p) == ["r0", "r1", "r2", "m", "final"]


def test_order_helpers_reject_cycles_and_unknown_ids() -> None:
    with pytest.raises(PlanCycle):
        levels(plan(task("a", ("b",)), task("b", ("a",))))
    with pytest.raises(UnknownDependency):
        topological_order(plan(task("a", ("zz",))))


@st.composite
def dags(draw: st.DrawFn) -> Plan:
    n = draw(st.integers(1, 12))
    subtasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        subtasks.append(task(f"t{i}", tuple(f"t{d}" for d in deps)))
    order = draw(st.permutations(subtasks))
    return Plan(tuple(order), f"t{n - 1}", "test")


@given(dags())
def test_order_and_levels_respect_every_dependency(p: Plan) -> None:
    order = topological_order(p)
    assert sorted(order) == sorted(p.ids)
    position = {sid: i for i, sid in enumerate(order)}
    waves = levels(p)
    wave_of = {sid: w for w, ids in enumerate(waves) for sid in ids}
    for s in p.subtasks:
        for d in s.depends_on:
            assert position[d] < position[s.id]
            assert wave_of[d] < wave_of[s.id]
    checked = validate(p, {"general"})
    assert checked.ids[-1] == p.answer  # only the answer and what it needs remain
    assert all(d in checked.ids for s in checked.subtasks for d in s.depends_on)
