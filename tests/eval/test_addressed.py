"""Coverage: whether an answer addressed each part at all, right or wrong,
on hand-made answers (and never for the job's own words echoed back)."""

from __future__ import annotations

import pytest

from hivemesh.eval.scorers import score_task
from hivemesh.eval.suite import load_suite

TASKS = {t.id: t for t in load_suite()}


def addressed(task_id: str, answer: str) -> list[bool]:
    return [p.addressed for p in score_task(TASKS[task_id], answer, run_code=_no_code).parts]


def _no_code(code, tests):  # type: ignore[no-untyped-def]
    """Stands in for the sandbox: every test fails (coverage does not run code)."""
    from types import SimpleNamespace

    return SimpleNamespace(passed=0, total=len(tests), ok=False, errors=[])


def test_a_wrong_answer_of_the_right_form_is_addressed() -> None:
    answer = ("Summary:\nGlaciers are melting and the snow is pressed into ice that carves valleys.\n\n"
              "Keywords:\nmountains, rivers, clouds")  # a fair summary; wrong keywords, but three of them
    assert addressed("multi-glacier-keywords", answer) == [True, True]
    parts = score_task(TASKS["multi-glacier-keywords"], answer).parts
    assert not parts[1].satisfied  # the keywords are answered, not right


def test_a_missing_part_is_not_addressed() -> None:
    answer = "Glaciers form from snow pressed into ice and are now shrinking, raising sea levels."
    assert addressed("multi-glacier-keywords", answer) == [True, False]  # the demo's old failure


def test_the_job_echoed_back_addresses_nothing() -> None:
    for task_id in ("multi-glacier-keywords", "multi-sum-city", "multi-ticket-products", "multi-sentiment-quote"):
        assert addressed(task_id, TASKS[task_id].job) == [False] * len(TASKS[task_id].parts), task_id


@pytest.mark.parametrize(("task_id", "answer", "expected"), [
    ("multi-sum-city", "Result:\n4700\n\nLargest city:\nAccra", [True, True]),  # both wrong, both answered
    ("multi-sum-city", "The numbers are 1,250 and 3,475.", [False, False]),  # numbers from the job, no city
    ("multi-sentiment-quote", "Sentiment:\npositive\n\nQuote:\nThey arrived quickly and the case is nice.",
     [True, True]),
    ("multi-sentiment-quote", "positive or negative", [False, False]),  # two labels: no choice made
    ("multi-ticket-products", "Classification:\nurgent\n\nProducts:\nrouter, cable", [True, True]),
    ("multi-code-kelvin", "def celsius_to_kelvin(c):\n    return c + 273\n\nResult: 298", [True, True]),
])
def test_parts_by_form(task_id: str, answer: str, expected: list[bool]) -> None:
    assert addressed(task_id, answer) == expected


def test_every_reference_answer_addresses_every_part() -> None:
    from hivemesh.eval.codecheck import score_code  # noqa: F401  (code parts run in the sandbox)
    from hivemesh.eval.reference import reference_answer

    for task in TASKS.values():
        if any(p.check.kind == "code" for p in task.parts):
            continue
        parts = score_task(task, reference_answer(task), run_code=_no_code).parts
        assert all(p.addressed for p in parts), task.id
