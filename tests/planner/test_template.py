"""Template placeholders: parsing, what a template needs, filling in."""

from __future__ import annotations

import pytest

from hivemesh.planner.errors import BadTemplate, RenderError
from hivemesh.planner.template import fill, needs, refs


def test_refs_finds_every_kind() -> None:
    found = refs("{{job}} {{input}} {{input:1}} {{chunk:3}} {{out:read_0}}")
    assert [(r.kind, r.arg) for r in found] == [
        ("job", None), ("input", None), ("input", "1"), ("chunk", "3"), ("out", "read_0"),
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{output:a}}", "unknown placeholder {{output:a}}"),
        ("{{inputs}}", "unknown placeholder {{inputs}}"),
        ("{{job:x}}", "takes no argument"),
        ("{{chunk}}", "needs an argument"),
        ("{{out:}}", "needs an argument"),
        ("{{chunk:one}}", "non-negative integer"),
        ("{{chunk:-1}}", "non-negative integer"),
    ],
)
def test_bad_placeholders_are_named(template: str, message: str) -> None:
    with pytest.raises(BadTemplate, match=message.replace("{", r"\{").replace("}", r"\}")):
        refs(template)


def test_braces_with_spaces_are_literal_text() -> None:
    assert refs("def f(): return '{{ name }}'") == []
    assert fill("x = {{ name }}", "job") == "x = {{ name }}"


def test_needs_lists_inputs_chunks_and_outputs() -> None:
    n = needs("{{job}}\n{{chunk:2}}{{chunk:5}}{{input:1}}{{out:a}}{{out:b}}")
    assert n.job and not n.all_inputs
    assert n.chunks == {2, 5} and n.inputs == {1} and n.outputs == {"a", "b"}
    assert needs("{{input}}").all_inputs


def test_fill_substitutes_everything() -> None:
    text = fill(
        "Task: {{job}}\nAll: {{input}}\nSecond: {{input:1}}\nChunk: {{chunk:0}}\nPrev: {{out:a}}",
        "summarise",
        inputs=["doc A", "doc B"],
        chunks=["part 0"],
        outputs={"a": "note"},
    )
    assert text == (
        "Task: summarise\nAll: doc A\n\ndoc B\nSecond: doc B\nChunk: part 0\nPrev: note"
    )


def test_fill_is_single_pass() -> None:
    """An output (or job text) that looks like a placeholder is never expanded."""
    text = fill("{{job}} / {{out:a}}", "say {{input}}", inputs=["SECRET"],
                outputs={"a": "{{chunk:0}}"})
    assert text == "say {{input}} / {{chunk:0}}"


def test_fill_accepts_sparse_chunk_mappings() -> None:
    assert fill("{{chunk:7}}", "j", chunks={7: "seventh"}) == "seventh"
    assert fill("{{input}}", "j", inputs={1: "b", 0: "a"}) == "a\n\nb"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{out:a}}", "output of subtask 'a' is not available"),
        ("{{chunk:4}}", "no chunk 4"),
        ("{{input:2}}", "no input 2"),
    ],
)
def test_fill_missing_values_raise_render_error(template: str, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        fill(template, "job", inputs=["x"], chunks={3: "y"}, outputs={})
