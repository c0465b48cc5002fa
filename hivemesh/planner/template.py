"""Subtask prompt templates: parse and fill in placeholders.

Placeholders are written without spaces:

    {{job}}        the job's instruction text
    {{input}}      every input document, joined by a blank line
    {{input:K}}    input document K (0-based)
    {{chunk:N}}    chunk N of the inputs (0-based, numbered across all inputs)
    {{out:ID}}     the output of subtask ID (which must be a dependency), stripped

Anything else written ``{{word}}`` or ``{{word:arg}}`` is an unknown
placeholder and fails validation; text with spaces inside the braces, such as
``{{ name }}``, is literal text. Filling in is a single pass over the template,
so text inside a substituted output is never expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hivemesh.planner.errors import BadTemplate, RenderError

PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]+)(?::([^{}\s]*))?\}\}")
KINDS = ("job", "input", "chunk", "out")


@dataclass(frozen=True)
class Ref:
    """One placeholder: ``kind`` and its argument (``None`` when absent)."""

    kind: str
    arg: str | None
    text: str


@dataclass(frozen=True)
class Needs:
    """What a template needs to be filled in."""

    job: bool
    all_inputs: bool
    inputs: frozenset[int]
    chunks: frozenset[int]
    outputs: frozenset[str]


def refs(template: str) -> list[Ref]:
    """Every placeholder in ``template``, checked for kind and argument."""
    found = []
    for match in PLACEHOLDER.finditer(template):
        ref = Ref(match.group(1), match.group(2), match.group(0))
        _check_ref(ref)
        found.append(ref)
    return found


def _check_ref(ref: Ref) -> None:
    if ref.kind not in KINDS:
        raise BadTemplate(
            f"unknown placeholder {ref.text}; placeholders are {{{{job}}}}, {{{{input}}}}, "
            "{{input:K}}, {{chunk:N}} and {{out:ID}} (write literal braces with spaces)"
        )
    if ref.kind == "job" and ref.arg is not None:
        raise BadTemplate(f"{ref.text}: {{{{job}}}} takes no argument")
    if ref.kind in ("chunk", "out") and not ref.arg:
        raise BadTemplate(f"{ref.text}: {{{{{ref.kind}:...}}}} needs an argument")
    if ref.kind in ("chunk", "input") and ref.arg is not None and not _is_index(ref.arg):
        raise BadTemplate(f"{ref.text}: {ref.kind} index must be a non-negative integer")


def _is_index(arg: str) -> bool:
    return arg.isascii() and arg.isdigit() and len(arg) <= 6


def needs(template: str) -> Needs:
    """Which job text, inputs, chunks and outputs ``template`` uses."""
    found = refs(template)
    return Needs(
        job=any(r.kind == "job" for r in found),
        all_inputs=any(r.kind == "input" and r.arg is None for r in found),
        inputs=frozenset(int(r.arg) for r in found if r.kind == "input" and r.arg is not None),
        chunks=frozenset(int(r.arg) for r in found if r.kind == "chunk" and r.arg is not None),
        outputs=frozenset(r.arg for r in found if r.kind == "out" and r.arg is not None),
    )


def fill(
    template: str,
    job_text: str,
    inputs: Sequence[str] | Mapping[int, str] = (),
    chunks: Sequence[str] | Mapping[int, str] = (),
    outputs: Mapping[str, str] | None = None,
) -> str:
    """Fill in every placeholder of ``template`` in one pass.

    ``inputs`` and ``chunks`` may be full sequences or sparse mappings of the
    indices a worker was sent. A missing value raises ``RenderError``.
    """
    outs = outputs or {}

    def value(match: re.Match[str]) -> str:
        ref = Ref(match.group(1), match.group(2), match.group(0))
        _check_ref(ref)
        return _value(ref, job_text, inputs, chunks, outs)

    return PLACEHOLDER.sub(value, template)


def _value(
    ref: Ref,
    job_text: str,
    inputs: Sequence[str] | Mapping[int, str],
    chunks: Sequence[str] | Mapping[int, str],
    outputs: Mapping[str, str],
) -> str:
    if ref.kind == "job":
        return job_text
    if ref.kind == "out":
        if ref.arg is None or ref.arg not in outputs:
            raise RenderError(f"{ref.text}: the output of subtask {ref.arg!r} is not available")
        return outputs[ref.arg].strip()  # a model's leading blank line is not part of its answer
    if ref.kind == "input" and ref.arg is None:
        return _join_all(inputs)
    source = inputs if ref.kind == "input" else chunks
    return _lookup(source, int(ref.arg or 0), ref)


def _join_all(inputs: Sequence[str] | Mapping[int, str]) -> str:
    if isinstance(inputs, Mapping):
        return "\n\n".join(inputs[k] for k in sorted(inputs))
    return "\n\n".join(inputs)


def _lookup(source: Sequence[str] | Mapping[int, str], index: int, ref: Ref) -> str:
    try:
        return source[index]
    except (IndexError, KeyError):
        raise RenderError(f"{ref.text}: no {ref.kind} {index} in this job") from None
