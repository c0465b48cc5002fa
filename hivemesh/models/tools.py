"""Capabilities served by tools instead of language models.

A tool is a ``ModelBackend`` like any other (advertised, scheduled, paid in
no tokens), so a plan's ``math`` subtask can go to an exact calculator and a
multi-part job's final ``join`` to a deterministic assembler:

- ``tool:math`` (``Calculator``): evaluates the arithmetic expression in its
  prompt exactly (``hivemesh.models.arith``: a parser, no ``eval``). The
  prompt is the expression; when it is not, the last piece of a line that is
  one (an upstream model's "The expression is 12 * 4 + 3") is used.
- ``tool:count`` (``Counter``): counts the words, sentences, characters,
  letters, lines or list items of a text. Its prompt is the unit on the first
  line and the text after a blank line (``"words\n\nGood morning, friend"``).
- ``tool:join`` (``Joiner``): returns its prompt as the answer. A join
  subtask's template is the labelled sections of the answer, in the order the
  user asked, with the parts' outputs filled in by the worker:
  ``"Summary:\\n{{out:summary}}\\n\\nKeywords:\\n{{out:keywords}}"``.

Both return at once (``nonblocking``) and never touch the network or disk.
"""

from __future__ import annotations

import re
import threading
import time

from hivemesh.errors import ModelError
from hivemesh.models.arith import ArithmeticProblem, evaluate, format_number
from hivemesh.models.base import Completion, CompletionRequest
from hivemesh.models.identity import pseudo_hash
from hivemesh.models.scoring import EXACT, MISS_GAP, MISS_RANK, CheckPolicy, CheckVerdict, judge

CONTEXT = 1 << 20
TOOLS = ("math", "join", "count")
UNITS = ("words", "sentences", "characters", "letters", "lines", "items")

_CANDIDATE = re.compile(r"[\d.(][\d.,\s()+\-*/^×÷%]*[\d)%]")


class ToolError(ModelError):
    """A tool could not do what its prompt asked (a clear reason, not a crash)."""


class _Tool:
    nonblocking = True
    is_tool = True
    context_size = CONTEXT

    quant = "tool"

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def model_hash(self) -> str:
        return pseudo_hash("tool", type(self).__name__)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score(self, request: CompletionRequest, output_text: str,
              policy: CheckPolicy | None = None) -> CheckVerdict:
        """A tool is exact: the claimed output must be its output."""
        started = time.monotonic()
        try:
            same = self.run(_prompt(request)) == output_text
        except ToolError:
            same = False
        n = max(1, len(output_text.split()))
        return judge([0 if same else MISS_RANK] * n, [0.0 if same else MISS_GAP] * n, EXACT,
                     time.monotonic() - started)

    def generate(self, request: CompletionRequest, cancel: threading.Event | None = None) -> Completion:
        started = time.monotonic()
        text = self.run(_prompt(request))
        return Completion(text=text, prompt_tokens=0, completion_tokens=0,
                          seconds=time.monotonic() - started, finish_reason="stop", model=self.name)

    def run(self, prompt: str) -> str:
        raise NotImplementedError


class Calculator(_Tool):
    def __init__(self, name: str = "calculator") -> None:
        super().__init__(name)

    def run(self, prompt: str) -> str:
        try:
            return format_number(evaluate(prompt))
        except ArithmeticProblem as whole:
            for expression in reversed(candidates(prompt)):
                try:
                    return format_number(evaluate(expression))
                except ArithmeticProblem:
                    continue
            raise ToolError(f"math tool: no arithmetic expression in the prompt ({whole})") from None


class Joiner(_Tool):
    def __init__(self, name: str = "joiner") -> None:
        super().__init__(name)

    def run(self, prompt: str) -> str:
        sections = [s.strip() for s in prompt.strip().split("\n\n")]
        return "\n\n".join(s for s in sections if s)


class Counter(_Tool):
    def __init__(self, name: str = "counter") -> None:
        super().__init__(name)

    def run(self, prompt: str) -> str:
        unit, _, text = prompt.partition("\n")
        unit = unit.strip().lower()
        if unit not in UNITS:
            raise ToolError(f"count tool: the first line must be one of {', '.join(UNITS)}, not {unit[:40]!r}")
        return str(count(unit, text.strip()))


def count(unit: str, text: str) -> int:
    """How many ``unit`` (see ``UNITS``) ``text`` has."""
    if unit == "words":
        return len(re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", text))
    if unit == "sentences":
        return len([s for s in re.split(r"(?<=[.!?])\s+", text) if re.search(r"\w", s)])
    if unit == "characters":
        return len(text)
    if unit == "letters":
        return sum(c.isalpha() for c in text)
    if unit == "lines":
        return len([line for line in text.splitlines() if line.strip()])
    items = re.split(r"\s*(?:,|;|\n|\band\b)\s*", text)
    return len([i for i in items if re.search(r"\w", i) and i.strip().lower() not in ("none", "nothing")])


def candidates(text: str) -> list[str]:
    """Pieces of ``text`` that look like arithmetic (a digit and an operator), in order."""
    found = []
    for line in text.splitlines():
        for match in _CANDIDATE.finditer(line):
            piece = match.group(0).strip()
            if re.search(r"[\d)%]\s*[-+*/^×÷]\s*[-\d(.]", piece):  # a binary operation
                found.append(piece)
    return found


def _prompt(request: CompletionRequest) -> str:
    if request.prompt is not None:
        return request.prompt
    return "\n\n".join(m.content for m in request.messages or () if m.role == "user")


def load_tool(name: str) -> _Tool:
    if name == "math":
        return Calculator()
    if name == "join":
        return Joiner()
    if name == "count":
        return Counter()
    raise ModelError(f"unknown tool {name!r} (known: {', '.join(TOOLS)})")
