"""Arithmetic stated in words -> an expression for the math tool (pure).

    "Add 345 and 1,289, then divide by 7."          -> "(345 + 1289) / 7"
    "What is 15% of 240?"                           -> "(15 / 100) * 240"
    "Multiply 12 by 8 and subtract 30. Round to 1 decimal place."
                                                    -> "round((12 * 8) - 30, 1)"

``to_expression`` reads the job clause by clause; every clause must be an
operation it knows (or carry no number at all, like "What is the result?"),
otherwise it returns None and the planner leaves the job to a model. It
never guesses: a clause it cannot read makes the whole job unread.
"""

from __future__ import annotations

import re

from hivemesh.models.arith import ArithmeticProblem, evaluate

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_WORD_NUMBERS = {w: i for i, w in enumerate(_UNITS)} | _TENS | {"a hundred": 100, "one hundred": 100,
                                                                 "a thousand": 1000, "one thousand": 1000}
_SCALES = {"thousand": "1000", "million": "1000000", "billion": "1000000000"}
_MULTIPLIERS = {"double": "2", "twice": "2", "triple": "3", "halve": "1 / 2", "half": "1 / 2"}

NUM = r"(-?\d+(?:\.\d+)?|\.\d+)"
REF = (r"(?:it|that|this|the result|the answer|the total|the sum|the product|the difference|the number|"
       r"what you get|what you got|the outcome)")
LIST = rf"{NUM}(?:\s*,\s*{NUM})*(?:,?\s*and\s*{NUM})"

_ROUND = re.compile(
    r",?\s*(?:and\s+)?(?:then\s+)?(?:(?:round(?:ed|ing)?|give|write|express|answer|show|state)"
    r"(?:\s+(?:the|your)\s+(?:answer|result)|\s+it)?\s+(?:correct\s+)?|(?<=\d)\s+(?:correct\s+)?(?=to\s+\w+\s+decimal))"
    r"(?:to\s+(?:the\s+nearest\s+)?(?:(\d+)\s+decimal(?:\s+places?)?|(whole number|integer|tenth|hundredth|thousandth))"
    r"|as\s+(?:a|an)\s+(whole number|integer))",
    re.IGNORECASE)
_PLACES = {"whole number": 0, "integer": 0, "tenth": 1, "hundredth": 2, "thousandth": 3}
_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?then\s+|,?\s+and\s+then\s+|\s+then\s+|;\s*|:\s*|\.\s+|\?\s+|,\s+"
                    r"(?=(?:add|subtract|multiply|divide|take|square|double|triple|halve|raise|find|minus|plus|"
                    r"times|divided|over|increase|decrease|reduce)\b)"
                    r"|\s+and\s+(?=(?:add|subtract|multiply|divide|take|square|double|triple|halve|raise)\b))",
                    re.IGNORECASE)
_OPERATION = re.compile(r"\b(?:add|sum|total|plus|subtract|minus|take|difference|multiply|times|product|"
                        r"divide|divided|quotient|over|average|mean|percent|square|squared|root|cube|cubed|double|"
                        r"twice|triple|halve|half|raise|power|increase|decrease|reduce)\b|[-+*/^%]")
_INFIX = {" plus ": " + ", " minus ": " - ", " times ": " * ", " multiplied by ": " * ",
          " divided by ": " / ", " over ": " / ", " squared ": " ^ 2 ", " cubed ": " ^ 3 "}


def normalise(text: str) -> str:
    """Lower case, thousands separators gone, number words as digits."""
    out = text.lower().replace("×", "*").replace("÷", "/").replace("−", "-")
    out = re.sub(r"(?<=\d),(?=\d{3}\b)", "", out)
    for word, value in sorted(_WORD_NUMBERS.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(rf"\b{word}\b", str(value), out)
    for tens, value in _TENS.items():  # "twenty 5" after the step above -> 25
        out = re.sub(rf"\b{value} (\d)\b", lambda m, v=value: str(v + int(m.group(1))), out)
    out = re.sub(r"(?<=[\d)])\s*x\s*(?=[\d(])", " * ", out)  # "(17.5 + 32.25) x 4"
    for word, scale in _SCALES.items():  # "5.9 million" -> "(5.9 * 1000000)"
        out = re.sub(rf"(\d+(?:\.\d+)?)\s+{word}\b", lambda m, s=scale: format_scaled(m.group(1), s), out)
    return out


def format_scaled(number: str, scale: str) -> str:
    from hivemesh.models.arith import format_number

    return format_number(evaluate(f"{number} * {scale}"))


def _items(text: str) -> list[str]:
    return re.findall(NUM, text)


def _binary(clause: str) -> str | None:
    """A clause that starts a value: ``add 3 and 4``, ``12 times 8``, ``15% of 240``..."""
    rules: list[tuple[str, callable]] = [  # type: ignore[valid-type]
        (rf"(?:add|sum|total)(?:\s+up)?\s+({LIST})", lambda m: " + ".join(_items(m.group(1)))),
        (rf"(?:the\s+)?(?:sum|total)\s+of\s+({LIST})", lambda m: " + ".join(_items(m.group(1)))),
        (rf"add\s+{NUM}\s+to\s+{NUM}", lambda m: f"{m.group(2)} + {m.group(1)}"),
        (rf"subtract\s+{NUM}\s+from\s+{NUM}", lambda m: f"{m.group(2)} - {m.group(1)}"),
        (rf"take\s+{NUM}\s+(?:away\s+)?from\s+{NUM}", lambda m: f"{m.group(2)} - {m.group(1)}"),
        (rf"(?:the\s+)?difference\s+between\s+{NUM}\s+and\s+{NUM}", lambda m: f"{m.group(1)} - {m.group(2)}"),
        (rf"multiply\s+{NUM}\s+(?:by|and|with)\s+{NUM}", lambda m: f"{m.group(1)} * {m.group(2)}"),
        (rf"(?:the\s+)?product\s+of\s+({LIST})", lambda m: " * ".join(_items(m.group(1)))),
        (rf"divide\s+{NUM}\s+by\s+{NUM}", lambda m: f"{m.group(1)} / {m.group(2)}"),
        (rf"(?:the\s+)?quotient\s+of\s+{NUM}\s+(?:and|by)\s+{NUM}", lambda m: f"{m.group(1)} / {m.group(2)}"),
        (rf"(?:the\s+)?(?:average|mean)\s+of\s+({LIST})",
         lambda m: f"({' + '.join(_items(m.group(1)))}) / {len(_items(m.group(1)))}"),
        (rf"{NUM}\s*(?:%|percent)\s+of\s+{NUM}", lambda m: f"({m.group(1)} / 100) * {m.group(2)}"),
        (rf"increase\s+{NUM}\s+by\s+{NUM}\s*(?:%|percent)", lambda m: f"{m.group(1)} * (1 + {m.group(2)} / 100)"),
        (rf"(?:decrease|reduce)\s+{NUM}\s+by\s+{NUM}\s*(?:%|percent)",
         lambda m: f"{m.group(1)} * (1 - {m.group(2)} / 100)"),
        (rf"increase\s+{NUM}\s+by\s+{NUM}", lambda m: f"{m.group(1)} + {m.group(2)}"),
        (rf"(?:decrease|reduce)\s+{NUM}\s+by\s+{NUM}", lambda m: f"{m.group(1)} - {m.group(2)}"),
        (rf"(?:the\s+)?square\s+root\s+of\s+{NUM}", lambda m: f"sqrt({m.group(1)})"),
        (rf"(?:the\s+)?square\s+of\s+{NUM}", lambda m: f"{m.group(1)} ^ 2"),
        (rf"(?:the\s+)?cube\s+of\s+{NUM}", lambda m: f"{m.group(1)} ^ 3"),
        (rf"{NUM}\s+squared", lambda m: f"{m.group(1)} ^ 2"),
        (rf"{NUM}\s+cubed", lambda m: f"{m.group(1)} ^ 3"),
        (rf"raise\s+{NUM}\s+to\s+the\s+power\s+(?:of\s+)?{NUM}", lambda m: f"{m.group(1)} ^ {m.group(2)}"),
        (rf"{NUM}\s+to\s+the\s+power\s+(?:of\s+)?{NUM}", lambda m: f"{m.group(1)} ^ {m.group(2)}"),
        (rf"{NUM}\s+(?:plus|\+)\s+{NUM}", lambda m: f"{m.group(1)} + {m.group(2)}"),
        (rf"{NUM}\s+(?:minus|-)\s+{NUM}", lambda m: f"{m.group(1)} - {m.group(2)}"),
        (rf"{NUM}\s+(?:times|multiplied\s+by|\*|x)\s+{NUM}", lambda m: f"{m.group(1)} * {m.group(2)}"),
        (rf"{NUM}\s+(?:divided\s+by|over|/)\s+{NUM}", lambda m: f"{m.group(1)} / {m.group(2)}"),
        (rf"{NUM}\s+[a-z]+(?:\s+[a-z]+)?\s+(?:over|per|divided\s+by)\s+{NUM}(?:\s+[a-z]+){{0,3}}",
         lambda m: f"{m.group(1)} / {m.group(2)}"),  # "5.9 million people over 43000 square kilometres"
    ]
    return _first(clause, rules)


def _continue(clause: str, acc: str) -> str | None:
    """A clause that works on the value so far: ``then divide by 7``, ``square it``..."""
    a = f"({acc})"
    rules: list[tuple[str, callable]] = [  # type: ignore[valid-type]
        (rf"(?:add|plus)\s+{NUM}(?:\s+to\s+{REF})?", lambda m: f"{a} + {m.group(1)}"),
        (rf"subtract\s+{NUM}(?:\s+from\s+{REF})?", lambda m: f"{a} - {m.group(1)}"),
        (rf"(?:take\s+away|minus)\s+{NUM}", lambda m: f"{a} - {m.group(1)}"),
        (rf"subtract\s+{REF}\s+from\s+{NUM}", lambda m: f"{m.group(1)} - {a}"),
        (rf"multiply(?:\s+{REF})?\s+by\s+{NUM}", lambda m: f"{a} * {m.group(1)}"),
        (rf"(?:times)\s+{NUM}", lambda m: f"{a} * {m.group(1)}"),
        (rf"(?:divided\s+by|over)\s+{NUM}", lambda m: f"{a} / {m.group(1)}"),
        (rf"increase\s+{REF}\s+by\s+{NUM}\s*(?:%|percent)", lambda m: f"{a} * (1 + {m.group(1)} / 100)"),
        (rf"(?:decrease|reduce)\s+{REF}\s+by\s+{NUM}\s*(?:%|percent)", lambda m: f"{a} * (1 - {m.group(1)} / 100)"),
        (rf"divide(?:\s+{REF})?\s+by\s+{NUM}", lambda m: f"{a} / {m.group(1)}"),
        (rf"divide\s+{NUM}\s+by\s+{REF}", lambda m: f"{m.group(1)} / {a}"),
        (rf"(?:take|find)\s+(?:the\s+)?square\s+root(?:\s+of\s+{REF})?", lambda m: f"sqrt({acc})"),
        (rf"square\s+{REF}", lambda m: f"{a} ^ 2"),
        (rf"cube\s+{REF}", lambda m: f"{a} ^ 3"),
        (rf"raise\s+{REF}\s+to\s+the\s+power\s+(?:of\s+)?{NUM}", lambda m: f"{a} ^ {m.group(1)}"),
        (rf"(?:find|take|what\s+is)\s+{NUM}\s*(?:%|percent)\s+of\s+{REF}", lambda m: f"({m.group(1)} / 100) * {a}"),
        (rf"(double|triple|halve)\s+{REF}", lambda m: f"{a} * {_MULTIPLIERS[m.group(1)]}"),
    ]
    return _first(clause, rules)


def _first(clause: str, rules: list) -> str | None:  # type: ignore[type-arg]
    for pattern, build in rules:
        match = re.fullmatch(rf"\s*{pattern}\s*", clause)
        if match:
            return build(match)
    return None


def _strip(clause: str) -> str:
    clause = re.sub(r"^(?:please\s+|now\s+|and\s+|then\s+|next,?\s+|finally,?\s+|first,?\s+|"
                    r"(?:can|could)\s+you\s+|calculate\s+|compute\s+|work\s+out\s+|find\s+(?=the\s)|"
                    r"what\s+(?:is|do\s+you\s+get\s+(?:if\s+|when\s+)?(?:you\s+)?)|what's\s+|how\s+much\s+is\s+|"
                    r"(?:take|find)\s+(?=\d+(?:\.\d+)?\s*(?:%|percent)))+", "", clause.strip())
    return clause.strip(" .?!:")


def _direct(clause: str) -> str | None:
    """A clause that is itself an expression: ``12 * (3 + 4)``, ``3 plus 4 plus 5``."""
    clause = f" {clause} "
    for word, op in _INFIX.items():
        clause = clause.replace(word, op)
    if not re.fullmatch(r"[\d.\s()+\-*/^%]+", clause) or not re.search(r"\d\s*[-+*/^]\s*[\d(]", clause):
        return None
    return clause.strip()


def to_expression(job: str) -> str | None:
    """The job's arithmetic as an expression for the math tool, or None."""
    text = normalise(job)
    places = None
    found = _ROUND.search(text)
    if found:
        places = int(found.group(1)) if found.group(1) else _PLACES[found.group(2) or found.group(3)]
        text = text[: found.start()] + text[found.end():]
    acc: str | None = None
    for raw in _SPLIT.split(text.strip()):
        clause = _strip(raw)
        if not re.search(r"\d", clause) and not _OPERATION.search(clause):
            continue  # "What is the result?"
        step = _direct(clause) if acc is None else None
        step = step or (_binary(clause) if acc is None else _continue(clause, acc))
        if step is None:
            return None
        acc = step
    if acc is None:
        return None
    expression = f"round({acc}, {places})" if places is not None else acc
    try:
        evaluate(expression)
    except ArithmeticProblem:
        return None
    return expression
