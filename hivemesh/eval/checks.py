"""One typed check per kind of task part, parsed strictly from a task file.

| kind | what the part asks | passes when (default threshold) |
|---|---|---|
| ``rouge`` | a summary | best ROUGE-L F1 (stemmed) against any reference, length-penalised, >= 0.25 |
| ``set`` | a set of items (entities, fields) | set F1 of the listed items >= 0.6 |
| ``keywords`` | ``count`` keywords | share of the first ``count`` items in the pool >= 0.6 |
| ``number`` | a number | the segment's last number, rounded to ``decimals``, equals ``value`` |
| ``label`` | one of ``labels`` | the segment names exactly one label, and it is ``value`` |
| ``contains`` | a name or phrase (or words of a translation) | share of ``groups`` named, no distractor named, >= 1.0 |
| ``quote`` | one of ``sentences`` of the input, quoted | LCS recall of it >= 0.8, no distractor sentence quoted |
| ``code`` | a Python function | every test passes in the sandbox |

A group or item is a string or a list of aliases. ``parse_check`` raises
``ValueError`` with the problem; the suite loader adds file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

Aliases = tuple[str, ...]


@dataclass(frozen=True)
class RougeCheck:
    kind: ClassVar[str] = "rouge"
    references: tuple[str, ...]
    threshold: float = 0.25


@dataclass(frozen=True)
class SetCheck:
    kind: ClassVar[str] = "set"
    items: tuple[Aliases, ...]
    threshold: float = 0.6


@dataclass(frozen=True)
class KeywordsCheck:
    kind: ClassVar[str] = "keywords"
    pool: tuple[Aliases, ...]
    count: int
    threshold: float = 0.6


@dataclass(frozen=True)
class NumberCheck:
    kind: ClassVar[str] = "number"
    value: Decimal
    decimals: int | None = None
    threshold: float = 1.0


@dataclass(frozen=True)
class LabelCheck:
    kind: ClassVar[str] = "label"
    labels: tuple[str, ...]
    value: str
    aliases: tuple[tuple[str, Aliases], ...] = ()
    threshold: float = 1.0

    def names(self) -> dict[str, Aliases]:
        """label -> the phrases that name it (the label itself first)."""
        extra = dict(self.aliases)
        return {label: (label, *extra.get(label, ())) for label in self.labels}


@dataclass(frozen=True)
class ContainsCheck:
    kind: ClassVar[str] = "contains"
    groups: tuple[Aliases, ...]
    distractors: tuple[str, ...] = ()
    threshold: float = 1.0


@dataclass(frozen=True)
class QuoteCheck:
    kind: ClassVar[str] = "quote"
    sentences: tuple[str, ...]  # quoting any one of them answers the part
    distractors: tuple[str, ...] = ()
    threshold: float = 0.8


@dataclass(frozen=True)
class CodeCheck:
    kind: ClassVar[str] = "code"
    entry: str
    tests: tuple[str, ...]
    reference: str
    wrong: str
    threshold: float = 1.0


Check = RougeCheck | SetCheck | KeywordsCheck | NumberCheck | LabelCheck | ContainsCheck | QuoteCheck | CodeCheck


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _texts(raw: Mapping[str, Any], key: str, *, required: bool = True) -> tuple[str, ...]:
    value = raw.get(key, None if required else [])
    if not isinstance(value, list) or (required and not value) or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key!r} must be a {'non-empty ' if required else ''}list of non-empty strings")
    return tuple(value)


def _groups(raw: Mapping[str, Any], key: str) -> tuple[Aliases, ...]:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key!r} must be a non-empty list of strings or lists of aliases")
    groups = []
    for entry in value:
        aliases = [entry] if isinstance(entry, str) else entry
        if not isinstance(aliases, list) or not aliases or \
                not all(isinstance(a, str) and a.strip() for a in aliases):
            raise ValueError(f"{key!r}: {entry!r} is not a string or a non-empty list of strings")
        groups.append(tuple(aliases))
    return tuple(groups)


def _threshold(raw: Mapping[str, Any], default: float) -> float:
    value = raw.get("threshold", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"'threshold' must be a number in (0, 1], not {value!r}")
    return float(value)


def _number(raw: Mapping[str, Any]) -> NumberCheck:
    value, decimals = raw.get("value"), raw.get("decimals")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"'value' must be a number, not {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"'value' must be a number, not {value!r}") from None
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
        raise ValueError(f"'decimals' must be an integer >= 0, not {decimals!r}")
    return NumberCheck(number, decimals)


def _label(raw: Mapping[str, Any]) -> LabelCheck:
    labels, value = _texts(raw, "labels"), _text(raw, "value")
    if value not in labels:
        raise ValueError(f"'value' {value!r} is not one of the labels {list(labels)}")
    aliases = raw.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
            k in labels and isinstance(v, list) and all(isinstance(a, str) and a for a in v)
            for k, v in aliases.items()):
        raise ValueError("'aliases' must map labels to lists of strings")
    return LabelCheck(labels, value, tuple((k, tuple(v)) for k, v in aliases.items()))


def _keywords(raw: Mapping[str, Any]) -> KeywordsCheck:
    pool, count = _groups(raw, "pool"), raw.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(pool):
        raise ValueError(f"'count' must be an integer from 1 to the pool's size {len(pool)}, not {count!r}")
    return KeywordsCheck(pool, count, _threshold(raw, KeywordsCheck.threshold))


def _code(raw: Mapping[str, Any]) -> CodeCheck:
    entry = _text(raw, "entry")
    if not entry.isidentifier():
        raise ValueError(f"'entry' must be a Python identifier, not {entry!r}")
    return CodeCheck(entry, _texts(raw, "tests"), _text(raw, "reference"), _text(raw, "wrong"))


_PARSERS: dict[str, tuple[Callable[[Mapping[str, Any]], Check], frozenset[str]]] = {
    "rouge": (lambda r: RougeCheck(_texts(r, "references"), _threshold(r, RougeCheck.threshold)),
              frozenset({"references", "threshold"})),
    "set": (lambda r: SetCheck(_groups(r, "items"), _threshold(r, SetCheck.threshold)),
            frozenset({"items", "threshold"})),
    "keywords": (_keywords, frozenset({"pool", "count", "threshold"})),
    "number": (_number, frozenset({"value", "decimals"})),
    "label": (_label, frozenset({"labels", "value", "aliases"})),
    "contains": (lambda r: ContainsCheck(_groups(r, "groups"), _texts(r, "distractors", required=False),
                                         _threshold(r, ContainsCheck.threshold)),
                 frozenset({"groups", "distractors", "threshold"})),
    "quote": (lambda r: QuoteCheck(_texts(r, "sentences"), _texts(r, "distractors", required=False),
                                   _threshold(r, QuoteCheck.threshold)),
              frozenset({"sentences", "distractors", "threshold"})),
    "code": (_code, frozenset({"entry", "tests", "reference", "wrong"})),
}
KINDS = frozenset(_PARSERS)


def parse_check(kind: str, raw: Mapping[str, Any]) -> Check:
    """The check of ``kind`` from ``raw`` (a part without its name and kind)."""
    if kind not in _PARSERS:
        raise ValueError(f"unknown check kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    parse, keys = _PARSERS[kind]
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for kind {kind!r} (known: {sorted(keys)})")
    return parse(raw)
