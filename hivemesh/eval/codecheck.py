"""Scoring a ``code`` part: find the code in the answer, run the tests sandboxed.

The code is the first fenced block that defines the entry function, else the
first fenced block (an unterminated fence runs to the end), else the answer
from its first line that starts with ``def``/``import``/``from``/``class``/``@``,
else the whole answer. Trailing prose is trimmed inside the sandbox.
Score = tests passed / tests; satisfied when all pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hivemesh.eval.checks import CodeCheck
from hivemesh.eval.scorers import PartScore

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_CODE_START = re.compile(r"^\s*(?:def|import|from|class|@)\b")


def extract_code(answer: str, entry: str) -> str:
    blocks = _FENCE.findall(answer)
    defines = re.compile(rf"\bdef\s+{re.escape(entry)}\s*\(")
    for block in blocks:
        if defines.search(block):
            return block
    if blocks:
        return blocks[0]
    lines = answer.splitlines()
    for index, line in enumerate(lines):
        if _CODE_START.match(line):
            return "\n".join(lines[index:])
    return answer


def score_code(name: str, check: CodeCheck, answer: str, *, run: Callable[..., Any] | None = None) -> PartScore:
    """``check``'s tests run against the code in ``answer`` in a sandbox."""
    if run is None:
        from hivemesh.eval.sandbox import run_tests as run
    result = run(extract_code(answer, check.entry), check.tests)
    score = result.passed / result.total if result.total else 0.0
    detail = f"{result.passed}/{result.total} tests" + (f"; {result.errors[0]}" if result.errors else "")
    return PartScore(name, check.kind, score, result.ok, detail[:160])
