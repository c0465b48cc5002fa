"""Reading numbers out of free text (pure).

``1,289``, ``1289.0``, ``-3.5``, ``$1,234.50``, ``12%`` and ``1 289`` are
read as numbers; so are the words zero to ninety-nine (``seven``,
``twenty-one``) and ``a hundred``/``one thousand`` style round words. Times
(``9:40``) and ratios are read as their separate numbers. Not read: a count
of decimal places ("rounded to 2 decimal places") and "one" as a pronoun
("no one", "one of"). A part's number is
the *last* number of a segment (as GSM8K-style evaluations read answers).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
WORD_VALUES: dict[str, int] = {w: i for i, w in enumerate(_UNITS)}
WORD_VALUES.update({w: 20 + 10 * i for i, w in enumerate(_TENS)})
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

_DIGITS = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+(?![\d,])|\d+)(?:\.\d+)?(?![\d])"
_WORDS = (r"(?<![a-z])(?:(?:a|one)\s+(?:hundred|thousand|million)|(?:" + "|".join(_TENS) + r")(?:[- ](?:"
          + "|".join(_UNITS[1:10]) + r"))?|" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")(?![a-z])")
_NUMBER = re.compile(rf"(?P<digits>{_DIGITS})|(?P<words>{_WORDS})", re.IGNORECASE)


def _word_value(text: str) -> Decimal:
    parts = re.split(r"[- \s]+", text.lower())
    if parts[-1] in _SCALES:
        return Decimal(_SCALES[parts[-1]])
    return Decimal(sum(WORD_VALUES[p] for p in parts))


_PLACES = re.compile(r"\s*(?:decimal\s+places?|decimals?\b|d\.\s?p\.|dp\b|significant)", re.IGNORECASE)
_PRONOUN_BEFORE = re.compile(r"(?:\b(?:no|the|any|each|every|some|this|that|which|another)\s+|-)$", re.IGNORECASE)
_PRONOUN_AFTER = re.compile(r"\s+(?:of|another|by\s+one)\b", re.IGNORECASE)


def _not_a_value(text: str, match: re.Match[str]) -> bool:
    """A count of decimal places ("to 2 decimal places") or "one" used as a
    pronoun ("no one", "one of them") is not a value."""
    if _PLACES.match(text, match.end()):
        return True
    word = (match["words"] or "").lower()
    return word == "one" and bool(_PRONOUN_BEFORE.search(text[:match.start()]) or
                                  _PRONOUN_AFTER.match(text, match.end()))


def numbers_in(text: str) -> list[Decimal]:
    """Every number in ``text``, in order."""
    found = []
    for match in _NUMBER.finditer(text):
        if _not_a_value(text, match):
            continue
        if match["digits"]:
            raw = match["digits"].replace(",", "").replace(" ", "")
            try:
                found.append(Decimal(raw))
            except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
                continue
        else:
            found.append(_word_value(match["words"]))
    return found


def last_number(text: str) -> Decimal | None:
    found = numbers_in(text)
    return found[-1] if found else None


def matches(found: Decimal, expected: Decimal, decimals: int | None) -> bool:
    """``found`` equals ``expected`` once rounded (half up) to ``decimals``
    places; with ``decimals`` None, exactly (1289 == 1289.0)."""
    if decimals is None:
        return found == expected
    quantum = Decimal(1).scaleb(-decimals)
    return found.quantize(quantum, rounding=ROUND_HALF_UP) == expected.quantize(quantum, rounding=ROUND_HALF_UP)
