"""Arithmetic stated in words, read into an expression, or refused."""

from __future__ import annotations

import pytest

from hivemesh.models.arith import evaluate, format_number
from hivemesh.planner.mathwords import to_expression


@pytest.mark.parametrize(("job", "value"), [
    ("Add 345 and 1,289, then divide by 7.", "233.4285714286"),
    ("Add 345 and 1,289, then divide by 7. Round to two decimal places.", "233.43"),
    ("What is 15% of 240?", "36"),
    ("What is seven times twelve?", "84"),
    ("What is 3 plus 4 plus 5?", "12"),
    ("Add 3, 4 and 5. What is the result?", "12"),
    ("Subtract 17 from 250, then multiply the result by 3.", "699"),
    ("Take 45 away from 300 and then halve it.", "127.5"),
    ("Raise 2 to the power of 10, then subtract 24.", "1000"),
    ("Compute the square root of 144, then add 6.", "18"),
    ("Divide 1000 by 8, then round to the nearest whole number.", "125"),
    ("Calculate 12 * (3 + 4).", "84"),
    ("What is the average of 4, 8 and 15?", "9"),
    ("Multiply 2.5 by 4, then add 0.75.", "10.75"),
    ("What is twenty five times four?", "100"),
])
def test_arithmetic_in_words(job: str, value: str) -> None:
    expression = to_expression(job)
    assert expression is not None, job
    assert format_number(evaluate(expression)) == value


@pytest.mark.parametrize("job", [
    "A farmer has 12 cows and buys 5 more. How many cows does he have now?",
    "Summarise this paragraph and list three keywords.",
    "Add 12 and 30, and name the largest city mentioned.",
    "Divide the class into 3 groups.",
    "What is the capital of France?",
    "Add 5 to the list of tasks.",
])
def test_anything_else_is_left_to_a_model(job: str) -> None:
    assert to_expression(job) is None


@pytest.mark.parametrize(("job", "value"), [
    # phrasings written apart from the eval suite, to check the reader is not fitted to it
    ("Reduce 80 by 25 percent.", "60"),
    ("What is 3.5 times 4, divided by 7?", "2"),
    ("Take 10% of 500 and add 20.", "70"),
    ("What do you get when you multiply 13 by 7?", "91"),
    ("Add up 12, 19 and 4, then double it.", "70"),
    ("Compute 2,500 minus 1,250, then divide the result by 5.", "250"),
    ("How much is 45 plus 55?", "100"),
    ("Calculate 18 squared minus 24.", "300"),
    ("What is the product of 6, 7 and 8?", "336"),
    ("Divide 81 by 9 and then square the result.", "81"),
    ("What is 40% of 85, rounded to the nearest whole number?", "34"),
    ("Please work out 1000 divided by 3 to two decimal places.", "333.33"),
])
def test_phrasings_held_out_from_the_eval(job: str, value: str) -> None:
    expression = to_expression(job)
    assert expression is not None, job
    assert format_number(evaluate(expression)) == value
