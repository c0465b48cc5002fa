"""The rule-based fallback plan."""

from __future__ import annotations

import pytest

from hivemesh.planner.base import PlanRequest
from hivemesh.planner.chunking import chunk_inputs
from hivemesh.planner.errors import UnknownCapability
from hivemesh.planner.fallback import choose_capability, fallback_plan, split_asks
from hivemesh.planner.plan import PlanLimits, render
from hivemesh.planner.template import needs
from hivemesh.planner.validate import levels

ALL = {"summarize", "general", "code", "analysis", "math", "extract"}


def long_doc(paragraphs: int = 20) -> str:
    return "\n\n".join(f"Paragraph {i}. " + "words " * 150 for i in range(paragraphs))


def request(job: str, inputs: list[str] = [], caps=ALL, limits=None) -> PlanRequest:  # noqa: B006
    return PlanRequest.for_job(job, inputs, caps, limits, chunk_tokens=500)


def test_chunked_input_becomes_map_then_reduce() -> None:
    req = request("Summarise the report for a manager", [long_doc()])
    plan = fallback_plan(req)
    assert plan.planner == "fallback"
    n = req.n_chunks
    assert n > 2
    assert levels(plan) == [[f"read_{i}" for i in range(n)], ["combine"]]
    assert {plan.subtask(f"read_{i}").capability for i in range(n)} == {"summarize"}
    combine = plan.subtask("combine")
    assert combine.capability == "general" and plan.answer == "combine"
    assert needs(combine.prompt).outputs == {f"read_{i}" for i in range(n)}
    read = [needs(plan.subtask(f"read_{i}").prompt).chunks for i in range(n)]
    assert read == [{i} for i in range(n)]


def test_map_reduce_renders_with_real_chunks() -> None:
    doc = long_doc()
    req = request("Summarise", [doc])
    plan = fallback_plan(req)
    chunks = [c.text for c in chunk_inputs([doc], 500)]
    prompt = render(plan.subtask("read_1"), req.job, chunks=chunks)
    assert chunks[1] in prompt and chunks[0] not in prompt and "Summarise" in prompt


def test_more_chunks_than_subtasks_are_grouped_and_all_read() -> None:
    req = request("Summarise", [long_doc(60)], limits=PlanLimits(max_subtasks=4))
    assert req.n_chunks > 3
    plan = fallback_plan(req)
    assert len(plan.subtasks) == 4
    groups = [needs(s.prompt).chunks for s in plan.subtasks if s.id.startswith("read_")]
    assert sorted(c for g in groups for c in g) == list(range(req.n_chunks))
    assert max(len(g) for g in groups) - min(len(g) for g in groups) <= 1


def test_map_step_uses_the_matching_capability() -> None:
    plan = fallback_plan(request("Find the bugs in this python code", [long_doc()]))
    assert plan.subtask("read_0").capability == "code"


def test_only_available_capabilities_are_used() -> None:
    plan = fallback_plan(request("Summarise this", [long_doc()], caps={"chat"}))
    assert plan.capabilities() == {"chat"}
    plan = fallback_plan(request("Summarise this", [long_doc()], caps={"general"}))
    assert plan.capabilities() == {"general"}


def test_no_capabilities_at_all_is_a_clear_error() -> None:
    with pytest.raises(UnknownCapability, match="available: none"):
        fallback_plan(request("Summarise", [], caps=set()))


def test_two_asks_become_a_pipeline() -> None:
    plan = fallback_plan(request("Summarise this article and list 5 keywords", ["An article."]))
    assert plan.ids == ("step_1", "step_2") and plan.answer == "step_2"
    s1, s2 = plan.subtasks
    assert s1.capability == "summarize" and s2.capability == "extract"
    assert s2.depends_on == ("step_1",)
    assert "list 5 keywords" in s2.prompt and "{{input}}" in s1.prompt
    text = render(s2, "job", inputs=["An article."], outputs={"step_1": "SUM"})
    assert "SUM" in text and "An article." in text


def test_single_subtask_for_a_simple_job() -> None:
    plan = fallback_plan(request("What is the capital of France?"))
    assert [(s.id, s.capability, s.prompt) for s in plan.subtasks] == [
        ("answer", "general", "{{job}}")
    ]
    plan = fallback_plan(request("Write a python function that reverses a list", ["spec"]))
    assert plan.subtasks[0].capability == "code"
    assert "{{input}}" in plan.subtasks[0].prompt


def test_job_text_with_braces_cannot_inject_placeholders() -> None:
    plan = fallback_plan(request("Explain {{out:x}} and list {{input}} uses", ["doc"]))
    assert plan.ids == ("step_1", "step_2")  # and it validated: no stray placeholders
    for s in plan.subtasks:
        assert needs(s.prompt).outputs <= set(s.depends_on)


def test_limits_are_respected() -> None:
    req = request("Summarise", [long_doc()], limits=PlanLimits(max_tokens=64))
    assert {s.max_tokens for s in fallback_plan(req).subtasks} == {64}
    single = request("Summarise", [long_doc()], limits=PlanLimits(max_subtasks=1))
    assert fallback_plan(single).ids == ("answer",)


@pytest.mark.parametrize(
    ("job", "asks"),
    [
        ("Summarise this article and list keywords",
         ["Summarise this article", "list keywords"]),
        ("Read the notes; then write a reply", ["Read the notes", "write a reply"]),
        ("Translate it to French, then explain the idioms.",
         ["Translate it to French", "explain the idioms"]),
        ("Compare cats and dogs", ["Compare cats and dogs"]),
        ("What is 2+2?", ["What is 2+2?"]),
    ],
)
def test_split_asks(job: str, asks: list[str]) -> None:
    assert split_asks(job) == asks


def test_choose_capability() -> None:
    assert choose_capability("please summarise", ALL) == "summarize"
    assert choose_capability("calculate the average", ALL) == "math"
    assert choose_capability("hello", ALL) == "general"
    assert choose_capability("hello", {"summarize", "code"}, ("summarize",)) == "summarize"
    assert choose_capability("hello", {"zeta", "alpha"}) == "alpha"
    assert choose_capability("please summarise", None) == "summarize"
