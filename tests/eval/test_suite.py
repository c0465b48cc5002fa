"""The bundled suite loads, validates, and every task passes its own checks."""

import json
from collections import Counter

import pytest

from hivemesh.eval.checks import CodeCheck, RougeCheck
from hivemesh.eval.reference import reference_answer
from hivemesh.eval.sandbox import run_tests
from hivemesh.eval.scorers import score_task, score_text_part
from hivemesh.eval.suite import CAPABILITIES, SuiteError, bundled_files, load_file, load_suite, select
from tests.eval.summaries import INDEPENDENT

SUITE = load_suite()


def test_suite_size_and_spread() -> None:
    counts = Counter(t.capability for t in SUITE)
    assert len(SUITE) >= 60
    assert set(counts) == set(CAPABILITIES)
    assert counts["multi"] >= 10 and min(counts.values()) >= 8
    assert all(len(t.parts) >= 2 for t in SUITE if t.capability == "multi")
    assert {f.name for f in bundled_files()} == {f"{c}.jsonl" for c in CAPABILITIES}


def test_inputs_are_short_paragraphs() -> None:
    for task in SUITE:
        for doc in task.inputs:
            assert len(doc.split()) <= 150, task.id


@pytest.mark.parametrize("task", SUITE, ids=[t.id for t in SUITE])
def test_reference_answer_satisfies_every_part(task) -> None:  # type: ignore[no-untyped-def]
    scored = score_task(task, reference_answer(task))
    assert scored.satisfied == len(task.parts), scored


WITH_INPUTS = [t for t in SUITE if t.inputs]


@pytest.mark.parametrize("task", WITH_INPUTS, ids=[t.id for t in WITH_INPUTS])
def test_copying_the_input_does_not_answer(task) -> None:  # type: ignore[no-untyped-def]
    scored = score_task(task, "\n\n".join(task.inputs))
    assert scored.satisfied < len(task.parts), scored


CODE_PARTS = [(t.id, p.check) for t in SUITE for p in t.parts if isinstance(p.check, CodeCheck)]


@pytest.mark.parametrize("check", [c for _, c in CODE_PARTS], ids=[i for i, _ in CODE_PARTS])
def test_code_reference_passes_and_wrong_solution_fails(check) -> None:  # type: ignore[no-untyped-def]
    assert run_tests(check.reference, check.tests).ok
    assert not run_tests(check.wrong, check.tests).ok


def test_another_tasks_reference_fails() -> None:
    for cap in ("summarize", "extract", "classify", "math", "word_problems"):
        group = [t for t in SUITE if t.capability == cap]
        for a in group:
            for b in group:
                if a is not b and reference_answer(a) != reference_answer(b):
                    assert score_task(b, reference_answer(a)).satisfied == 0, (a.id, b.id)


ROUGE = {t.id: p.check for t in SUITE for p in t.parts if isinstance(p.check, RougeCheck)}


def test_rouge_threshold_calibrated_on_independent_summaries() -> None:
    """A summary of the right paragraph passes; of another paragraph, fails."""
    assert set(INDEPENDENT) == set(ROUGE)
    for task_id, summary in INDEPENDENT.items():
        assert score_text_part("s", ROUGE[task_id], summary).satisfied, task_id
        for other, check in ROUGE.items():
            if other != task_id:
                assert not score_text_part("s", check, summary).satisfied, (task_id, other)


def test_select_interleaves_capabilities_and_limits() -> None:
    first = select(SUITE, limit=7)
    assert [t.capability for t in first] == list(CAPABILITIES)
    assert {t.capability for t in select(SUITE, ["math", "code"])} == {"math", "code"}
    with pytest.raises(Exception, match="unknown capability"):
        select(SUITE, ["poetry"])


GOOD = {"id": "t1", "capability": "math", "job": "Add 2 and 2.", "inputs": [],
        "parts": [{"name": "answer", "kind": "number", "value": 4}]}


@pytest.mark.parametrize("line,problem", [
    ("{not json", "not valid JSON"),
    (json.dumps({**GOOD, "extra": 1}), "unknown key"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "job"}), "missing key"),
    (json.dumps({**GOOD, "capability": "poetry"}), "capability 'poetry'"),
    (json.dumps({**GOOD, "parts": [{"name": "a", "kind": "number", "value": "four"}]}), "'value' must be a number"),
    (json.dumps({**GOOD, "parts": [{"name": "a", "kind": "dance"}]}), "unknown check kind"),
    (json.dumps({**GOOD, "parts": [{"name": "a", "kind": "number", "value": 4, "colour": 1}]}), "unknown key"),
    (json.dumps({**GOOD, "parts": [GOOD["parts"][0], GOOD["parts"][0]]}), "exactly one part"),
    (json.dumps({**GOOD, "parts": [{"name": "a", "kind": "label", "labels": ["x"], "value": "y"}]}), "not one of"),
    (json.dumps({**GOOD, "parts": [{"name": "a", "kind": "rouge", "references": ["r"], "threshold": 2}]}),
     "threshold"),
])
def test_malformed_task_file_names_file_line_and_problem(tmp_path, line, problem) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")
    with pytest.raises(SuiteError) as info:
        load_file(path)
    assert f"{path}:3:" in str(info.value) and problem in str(info.value)


def test_duplicate_ids_across_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(SuiteError, match="also in"):
        load_suite([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
