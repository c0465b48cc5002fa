"""Chunking inputs and describing them to the planner."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hivemesh.planner.chunking import (
    CHARS_PER_TOKEN,
    MAX_PREVIEW_CHARS,
    approx_tokens,
    chunk_inputs,
    describe,
    guess_kind,
    preview,
    split_text,
)


def paragraphs(n: int, words: int = 60) -> str:
    return "\n\n".join(
        " ".join(f"p{i}w{j}" for j in range(words)) + "." for i in range(n)
    )


def test_small_text_is_one_chunk_and_empty_text_none() -> None:
    assert split_text("hello world", 100) == ["hello world"]
    assert split_text("  \n\n ", 100) == []


def test_paragraphs_stay_whole_and_chunks_fit() -> None:
    text = paragraphs(30)
    chunks = split_text(text, chunk_tokens=200)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 200 * CHARS_PER_TOKEN
        for para in chunk.split("\n\n"):
            assert para in text.split("\n\n")  # never cut inside a paragraph here
    assert "\n\n".join(chunks) == text


def test_long_paragraph_is_cut_at_sentences_then_words() -> None:
    sentence = "This is a sentence with several words. "
    text = sentence * 100  # one 3900-char paragraph
    chunks = split_text(text, chunk_tokens=50)
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    one_word = "x" * 1000
    assert split_text(one_word, chunk_tokens=50) == ["x" * 200] * 5


def test_code_keeps_its_indentation() -> None:
    code = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(200))
    chunks = split_text(code, chunk_tokens=100)
    assert len(chunks) > 1
    assert all("\n    return" in c for c in chunks)


@given(st.text(min_size=0, max_size=3000), st.integers(1, 200))
def test_chunks_never_exceed_the_limit_or_lose_words(text: str, tokens: int) -> None:
    chunks = split_text(text, tokens)
    assert all(0 < len(c) <= tokens * CHARS_PER_TOKEN for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_chunk_inputs_numbers_across_inputs() -> None:
    chunks = chunk_inputs([paragraphs(10), "short", ""], chunk_tokens=200)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[-1].input_index == 1 and chunks[-1].text == "short"
    assert {c.input_index for c in chunks} == {0, 1}


def test_describe_is_consistent_with_chunking() -> None:
    inputs = [paragraphs(10), "short note", ""]
    desc = describe(inputs, chunk_tokens=200)
    chunks = chunk_inputs(inputs, chunk_tokens=200)
    assert [d.index for d in desc] == [0, 1, 2]
    assert sum(d.chunks for d in desc) == len(chunks)
    assert desc[1].first_chunk == desc[0].chunks
    assert chunks[desc[1].first_chunk].text == "short note"
    assert desc[0].chars == len(inputs[0])
    assert desc[0].approx_tokens == approx_tokens(len(inputs[0]))
    assert desc[2].chunks == 0
    assert all(len(d.preview) <= MAX_PREVIEW_CHARS for d in desc)
    assert json.dumps(desc[0].to_dict())


def test_preview_is_short_and_flat() -> None:
    text = "Title\n\n   Body   text " + "word " * 500
    p = preview(text)
    assert len(p) <= 200 and p.startswith("Title Body text word") and p.endswith("…")
    assert preview("tiny") == "tiny"
    assert describe([text], preview_chars=10_000)[0].preview == p  # capped at 200
    assert describe([text], preview_chars=0)[0].preview == ""


def test_approx_tokens() -> None:
    assert approx_tokens(0) == 0
    assert approx_tokens(1) == 1
    assert approx_tokens(8) == 2
    assert approx_tokens(9) == 3


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"a": [1, 2]}', "json"),
        ("name,age\nann,3\nbob,4\ncy,5", "csv"),
        ("import os\n\ndef main():\n    return os.getcwd()\n", "code"),
        ("# Title\n\nSome text\n\n- item\n- item", "markdown"),
        ("Once upon a time there was a mesh.\nIt was small.", "text"),
        ("{not json", "text"),
        ("", "text"),
    ],
)
def test_guess_kind(text: str, kind: str) -> None:
    assert guess_kind(text) == kind


def test_bad_chunk_size() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)
