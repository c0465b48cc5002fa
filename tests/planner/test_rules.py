"""The rule-based plan: asks split, parts in parallel, a deterministic join,
arithmetic to the math tool, long input read map/reduce style."""

from __future__ import annotations

import pytest

from hivemesh.models.tools import Calculator, Counter, Joiner
from hivemesh.planner.asks import choose_capability, read_job, split_asks
from hivemesh.planner.base import PlanRequest
from hivemesh.planner.chunking import chunk_inputs
from hivemesh.planner.errors import UnknownCapability
from hivemesh.planner.plan import PlanLimits, render
from hivemesh.planner.rules import rule_plan
from hivemesh.planner.template import needs
from hivemesh.planner.validate import levels

ALL = {"summarize", "general", "code", "analysis", "math", "extract", "classify", "join", "count"}
PARAGRAPH = "Honey bees live in colonies. A queen lays the eggs and workers gather nectar."


def long_doc(paragraphs: int = 20) -> str:
    return "\n\n".join(f"Paragraph {i}. " + "words " * 150 for i in range(paragraphs))


def request(job: str, inputs: list[str] = [], caps=ALL, limits=None) -> PlanRequest:  # noqa: B006
    return PlanRequest.for_job(job, inputs, caps, limits, chunk_tokens=500)


def test_two_asks_run_in_parallel_and_meet_in_a_join() -> None:
    plan = rule_plan(request("Summarise this paragraph and list three keywords.", [PARAGRAPH]))
    assert plan.planner == "rules"
    assert levels(plan) == [["part_1", "part_2"], ["join"]]
    assert [plan.subtask(i).capability for i in plan.ids] == ["summarize", "extract", "join"]
    assert plan.answer == "join"
    outputs = {"part_1": "Bees live in colonies.", "part_2": "bees, queen, nectar"}
    joined = Joiner().run(render(plan.subtask("join"), "job", [PARAGRAPH], outputs=outputs))
    assert joined == "Summary:\nBees live in colonies.\n\nKeywords:\nbees, queen, nectar"
    for part in ("part_1", "part_2"):
        assert PARAGRAPH in render(plan.subtask(part), "job", [PARAGRAPH])


def test_the_join_keeps_every_part_in_the_order_asked() -> None:
    job = "Translate this sentence into French, list the nouns, classify its tone and summarise it."
    plan = rule_plan(request(job, ["The cat sat on the warm mat."]))
    parts = [i for i in plan.ids if i.startswith("part_")]
    assert len(parts) == 4
    template = plan.subtask("join").prompt
    labels = [line for line in template.splitlines() if line.endswith(":")]
    assert labels == ["Translation:", "Nouns:", "Classification:", "Summary:"]
    assert needs(template).outputs == set(parts) == set(plan.subtask("join").depends_on)


def test_an_ask_on_the_previous_result_waits_for_it() -> None:
    plan = rule_plan(request('Translate "Good morning, my dear friend" into French, then count its words.'))
    assert plan.subtask("part_2").depends_on == ("part_1",)
    assert "{{out:part_1}}" in plan.subtask("part_2").prompt
    assert plan.subtask("join").depends_on == ("part_1", "part_2")


def test_without_a_join_tool_a_model_joins_and_keeps_the_sections() -> None:
    plan = rule_plan(request("Summarise this paragraph and list three keywords.", [PARAGRAPH],
                             caps=ALL - {"join"}))
    join = plan.subtask("join")
    assert join.capability == "general"
    assert "Summary:\n{{out:part_1}}" in join.prompt and "Keywords:\n{{out:part_2}}" in join.prompt


@pytest.mark.parametrize(("job", "value"), [
    ("Add 345 and 1,289, then divide by 7.", "233.4285714286"),
    ("What is 15% of 240?", "36"),
    ("Multiply 12 by 8 and subtract 30, then round to 1 decimal place.", "66"),
    ("Subtract 17 from 250, then multiply the result by 3.", "699"),
    ("What is the average of 4, 8 and 15?", "9"),
])
def test_arithmetic_in_words_goes_to_the_math_tool(job: str, value: str) -> None:
    plan = rule_plan(request(job))
    assert [(s.id, s.capability) for s in plan.subtasks] == [("answer", "math")]
    assert Calculator().run(render(plan.subtasks[0], job)) == value


def test_arithmetic_among_other_asks_is_one_part() -> None:
    plan = rule_plan(request("Add 12 and 30, and name the largest city mentioned.", ["Paris is big."]))
    assert [plan.subtask(i).capability for i in plan.ids] == ["math", "extract", "join"]


def test_a_word_problem_is_formulated_by_a_model_and_worked_out_by_the_calculator() -> None:
    plan = rule_plan(request("A farmer has 12 cows and buys 5 more. How many cows does he have now?"))
    assert [(s.id, s.capability) for s in plan.subtasks] == [("answer_expr", "general"), ("answer", "math")]
    formulate, compute = plan.subtasks
    assert formulate.format == "completion" and formulate.stop == ("\n",)
    assert formulate.prompt.endswith("Question: A farmer has 12 cows and buys 5 more. How many cows does he "
                                     "have now?\nExpression:")
    worked = Calculator().run(render(compute, "job", outputs={"answer_expr": " 12 + 5"}))
    assert worked == "17"


def test_without_the_math_tool_arithmetic_goes_to_a_model() -> None:
    plan = rule_plan(request("Add 345 and 1,289, then divide by 7.", caps={"general"}))
    assert plan.subtasks[0].capability == "general"


def test_inline_material_is_kept_out_of_the_asks() -> None:
    review = "The food was cold, the waiter was rude, and we waited an hour, so never again."
    job = f"Classify the sentiment of this review as positive, negative or neutral, and quote its worst part: {review}"
    read = read_job(job)
    assert read.material == review and len(read.asks) == 2
    plan = rule_plan(request(job))
    assert all(review in plan.subtask(p).prompt for p in ("part_1", "part_2"))


def test_chunked_input_is_read_map_reduce_style() -> None:
    req = request("Summarise the report for a manager", [long_doc()])
    plan = rule_plan(req)
    n = req.n_chunks
    assert n > 2
    assert levels(plan) == [[f"read_{i}" for i in range(n)], ["answer"]]
    assert {plan.subtask(f"read_{i}").capability for i in range(n)} == {"summarize"}
    assert needs(plan.subtask("answer").prompt).outputs == {f"read_{i}" for i in range(n)}
    assert [needs(plan.subtask(f"read_{i}").prompt).chunks for i in range(n)] == [{i} for i in range(n)]


def test_map_reduce_renders_with_real_chunks() -> None:
    doc = long_doc()
    req = request("Summarise", [doc])
    plan = rule_plan(req)
    chunks = [c.text for c in chunk_inputs([doc], 500)]
    prompt = render(plan.subtask("read_1"), req.job, chunks=chunks)
    assert chunks[1] in prompt and chunks[0] not in prompt and "Summarise" in prompt


def test_more_chunks_than_subtasks_are_grouped_and_all_read() -> None:
    req = request("Summarise", [long_doc(60)], limits=PlanLimits(max_subtasks=4))
    assert req.n_chunks > 3
    plan = rule_plan(req)
    assert len(plan.subtasks) == 4
    groups = [needs(s.prompt).chunks for s in plan.subtasks if s.id.startswith("read_")]
    assert sorted(c for g in groups for c in g) == list(range(req.n_chunks))
    assert max(len(g) for g in groups) - min(len(g) for g in groups) <= 1


def test_several_asks_over_long_input_work_from_the_notes() -> None:
    req = request("Summarise the report and list five keywords", [long_doc()])
    plan = rule_plan(req)
    reads = {f"read_{i}" for i in range(req.n_chunks)}
    assert set(plan.subtask("part_1").depends_on) == reads == set(plan.subtask("part_2").depends_on)
    assert plan.answer == "join"


def test_map_step_uses_the_matching_capability() -> None:
    plan = rule_plan(request("Find the bugs in this python code", [long_doc()]))
    assert plan.subtask("read_0").capability in ("general", "summarize")  # reading is not coding
    assert plan.subtask("answer").capability == "code"


def test_only_available_capabilities_are_used() -> None:
    plan = rule_plan(request("Summarise this", [long_doc()], caps={"chat"}))
    assert plan.capabilities() == {"chat"}
    plan = rule_plan(request("Summarise this and list keywords", [PARAGRAPH], caps={"general"}))
    assert plan.capabilities() == {"general"}


def test_no_capabilities_at_all_is_a_clear_error() -> None:
    with pytest.raises(UnknownCapability, match="available: none"):
        rule_plan(request("Summarise", [], caps=set()))


def test_single_subtask_for_a_simple_job() -> None:
    plan = rule_plan(request("What is the capital of France?"))
    assert [(s.id, s.capability, s.prompt) for s in plan.subtasks] == [
        ("answer", "general", "What is the capital of France?")
    ]
    plan = rule_plan(request("Write a python function that reverses a list", ["spec"]))
    assert plan.subtasks[0].capability == "code"
    assert "{{input}}" in plan.subtasks[0].prompt


def test_job_text_with_braces_cannot_inject_placeholders() -> None:
    plan = rule_plan(request("Explain {{out:x}} and list {{input}} uses", ["doc"]))
    assert plan.ids == ("part_1", "part_2", "join")  # and it validated: no stray placeholders
    for s in plan.subtasks:
        assert needs(s.prompt).outputs <= set(s.depends_on)


def test_limits_are_respected() -> None:
    req = request("Summarise", [long_doc()], limits=PlanLimits(max_tokens=64))
    assert {s.max_tokens for s in rule_plan(req).subtasks} == {64}
    single = request("Summarise", [long_doc()], limits=PlanLimits(max_subtasks=1))
    assert rule_plan(single).ids == ("answer",)
    two = request("Summarise this and list keywords and classify it", [PARAGRAPH],
                  limits=PlanLimits(max_subtasks=3))
    assert rule_plan(two).ids == ("answer",)  # no room for three parts and a join


@pytest.mark.parametrize(
    ("job", "asks"),
    [
        ("Summarise this article and list keywords", ["Summarise this article", "list keywords"]),
        ("Read the notes; then write a reply", ["Read the notes", "write a reply"]),
        ("Translate it to French, then explain the idioms.", ["Translate it to French", "explain the idioms"]),
        ("Compare cats and dogs", ["Compare cats and dogs"]),
        ("What is 2+2?", ["What is 2+2?"]),
        ('Translate "Yes, and write soon" to German, then count its words',
         ['Translate "Yes, and write soon" to German', "count its words"]),
        ("Summarise it, list the people, name the city and give a title",
         ["Summarise it", "list the people", "name the city", "give a title"]),
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


@pytest.mark.parametrize(("job", "kinds"), [
    ("Is this review positive, negative or neutral?", ["classify"]),
    ("Spam or not spam? Here's the message I got:", ["classify"]),
    ("Sort this email into one of: refund request, delivery problem, account issue.", ["classify"]),
    ("Condense this news item into a sentence or two.", ["summarize"]),
    ("Fact or opinion? Answer with one of the two.", ["classify"]),
    ("What ingredients do I need for this recipe? List them.", ["extract"]),
    ("Translate this into French, then tell me how many words the English sentence has.", ["translate", "count"]),
    ("List the dates mentioned and count how many people are named.", ["extract", "count_items"]),
    ("What's the total of the amounts on this receipt, and which shop is it from?", ["math", "lookup"]),
    ("Classify the sentiment, and quote the sentence that shows it best.", ["classify", "lookup"]),
])
def test_kinds_of_ask(job: str, kinds: list[str]) -> None:
    assert [a.kind for a in read_job(job, has_inputs=True).asks] == kinds


def test_counting_is_exact_and_things_are_listed_before_they_are_counted() -> None:
    plan = rule_plan(request("Translate this into French, then tell me how many words the English sentence has.",
                             ["The old library opens at nine."]))
    count = plan.subtask("part_2")
    assert count.capability == "count" and count.depends_on == ()
    assert Counter().run(render(count, "job", ["The old library opens at nine."])) == "6"
    plan = rule_plan(request("List the dates mentioned and count how many people are named.", [PARAGRAPH]))
    assert plan.subtask("part_2_list").capability == "extract"
    assert plan.subtask("part_2").depends_on == ("part_2_list",)
    assert Counter().run(render(plan.subtask("part_2"), "job", outputs={"part_2_list": "Ann, Bo and Cy"})) == "3"
