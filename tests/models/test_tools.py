"""Tools as capability backends: exact arithmetic and the deterministic join.

The calculator parses (no ``eval``): bad or hostile expressions are a clear
``ToolError``, never a crash or a hang."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from hivemesh.errors import ConfigError, ModelError
from hivemesh.models.arith import ArithmeticProblem, evaluate, format_number
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.registry import DEFAULT_MODEL_ARGS, ModelRegistry, with_tools
from hivemesh.models.sources import load_model, parse_spec
from hivemesh.models.tools import Calculator, Counter, Joiner, ToolError


def ask(tool, text: str) -> str:
    return tool.generate(CompletionRequest(messages=(ChatMessage("user", text),))).text


@pytest.mark.parametrize(("expression", "value"), [
    ("(345 + 1289) / 7", "233.4285714286"),
    ("round((345 + 1289) / 7, 2)", "233.43"),
    ("round(2.5)", "3"),  # half away from zero, not Python's half to even
    ("round(-2.5)", "-3"),
    ("0.1 + 0.2", "0.3"),  # exact, not 0.30000000000000004
    ("2 ^ 10 - 24", "1000"),
    ("-2 ^ 2", "-4"),
    ("2 ** 3 ** 2", "512"),
    ("15% * 240", "36"),
    ("sqrt(144) + 6", "18"),
    ("min(4, max(1, 9), 7)", "4"),
    ("floor(7 / 2) * ceil(0.1)", "3"),
    ("12 × 3 ÷ 4", "9"),
])
def test_the_calculator_is_exact(expression: str, value: str) -> None:
    assert ask(Calculator(), expression) == value


def test_a_models_working_is_read_for_its_expression() -> None:
    assert ask(Calculator(), "The cost is 3 * 4 + 2 dollars.\nSo the expression is 3 * 4 + 2") == "14"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("hello there", "no arithmetic expression"),
    ("1 / 0", "division by zero"),
    ("2 ** 100000", "exponents"),
    ("9 ** 256 ** 2", "exponents"),
    ("(" * 100 + "1" + ")" * 100, "nested"),
    ("1,289 + 1", "thousands separators"),
    ("__import__('os').system('true')", "unexpected"),
    ("exec(1)", "unknown function"),
    ("sqrt(-1)", "negative"),
    ("1" * 3000, "over 2000 characters"),
    ("10 ** 200 * 10 ** 200 * 10 ** 200 * 10 ** 200 * 10 ** 200 * 10 ** 200 * 10 ** 200", "too large"),
])
def test_bad_expressions_are_clear_errors(text: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match=reason) as caught:
        ask(Calculator(), text)
    assert isinstance(caught.value, ModelError)
    assert time.monotonic() - started < 1.0


def test_evaluate_and_format() -> None:
    assert evaluate("1/3") == Fraction(1, 3)
    assert format_number(Fraction(1, 3)) == "0.3333333333"
    assert format_number(Fraction(-7, 2)) == "-3.5"
    with pytest.raises(ArithmeticProblem):
        evaluate("3 +")


def test_the_joiner_returns_its_sections() -> None:
    text = "Summary:\n Bees live in colonies. \n\n\n\nKeywords:\nbees, queen\n"
    assert ask(Joiner(), text) == "Summary:\n Bees live in colonies.\n\nKeywords:\nbees, queen"


def test_tools_load_from_specs_and_cost_no_tokens() -> None:
    assert parse_spec("tool:math").kind == "tool"
    with pytest.raises(ConfigError, match="unknown tool"):
        parse_spec("tool:shell")
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_spec("tool:math?ctx=5")
    tool = load_model("tool:math?name=calc")
    assert tool.name == "calc"
    done = tool.generate(CompletionRequest(prompt="2+2"))
    assert (done.text, done.prompt_tokens, done.completion_tokens) == ("4", 0, 0)


def test_every_peer_serves_the_tools_unless_a_model_takes_their_capability() -> None:
    assert with_tools([], ["math", "join"]) == [*DEFAULT_MODEL_ARGS, "math=tool:math", "join=tool:join"]
    assert with_tools(["math=sim:m"], ["math", "join"]) == ["math=sim:m", "join=tool:join"]
    registry = ModelRegistry.from_args(["general=sim:s"], tools=["math", "join"])
    assert set(registry.capabilities()) == {"general", "math", "join"}
    assert registry.model_for("math").name == "calculator"
    registry.warm_up()  # tools are skipped, not measured
    assert {i.name: i.tokens_per_second for i in registry.infos()}["calculator"] == 0


@pytest.mark.parametrize(("prompt", "value"), [
    ("words\n\nThe old library opens at nine every morning.", "8"),
    ("words\n\nIt's a well-known fact, isn't it?", "6"),
    ("sentences\n\nOne. Two! Three? Four", "4"),
    ("characters\n\nabc de", "6"),
    ("letters\n\nabc de 12", "5"),
    ("lines\n\na\n\nb\nc", "3"),
    ("items\n\nAnn Lee, Bo Chen; Cy\nDee and Ed", "5"),
    ("items\n\nnone", "0"),
])
def test_the_counter_is_exact(prompt: str, value: str) -> None:
    assert ask(Counter(), prompt) == value


def test_the_counter_wants_a_unit() -> None:
    with pytest.raises(ToolError, match="first line must be one of"):
        ask(Counter(), "the words in this\n\nsome text")
