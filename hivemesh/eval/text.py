"""How a free-text answer is cut into candidate segments, and matched (pure).

Every system's answer is read the same way. A part of a task is scored on
each *candidate segment* of the answer and keeps its best score:

- ``coarse``: the whole answer, each labelled section, each paragraph;
- ``fine``: the coarse segments plus each line and each sentence.

Checks whose answer is a piece of text (a summary, a list, a label, a quote)
use coarse segments; checks whose answer is one value (a number, a name) use
fine ones, so that a value stated mid-paragraph in running text counts as it
does in a labelled section.

A labelled section starts at a line like ``Summary:``, ``**Keywords:** a, b``
or ``## Answer``: a label of at most six words, then a colon (or a markdown
heading); it runs to the next label line. Text after the colon on the label
line belongs to the section.
"""

from __future__ import annotations

import re
import unicodedata

_LABEL_LINE = re.compile(
    r"^[\s>*#_-]*(?P<label>[^\W\d_][\w'()/&+ -]{0,60}?)[\s*_]*:[*_]*(?:\s+|$)(?P<rest>.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<label>\S.{0,60}?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)]|\(\d{1,2}\)|[a-z][.)])\s+")
_ITEM_SPLIT = re.compile(r"\s*(?:\n|;|,(?!\d{3})|\s+and\s+|\s*\|\s*)\s*", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
MAX_LABEL_WORDS = 6


def normalize(text: str) -> str:
    """Lowercase, accents stripped, typographic quotes and dashes made plain."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-", "\u00a0": " "}))
    return re.sub(r"\s+", " ", text.lower()).strip()


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (letters and digits)."""
    return _WORD.findall(normalize(text))


def sections(answer: str) -> list[tuple[str, str]]:
    """``(label, body)`` for each labelled section of ``answer``, in order."""
    found: list[tuple[str, list[str]]] = []
    for line in answer.splitlines():
        label, rest = _label_of(line)
        if label is not None:
            found.append((label, [rest] if rest else []))
        elif found:
            found[-1][1].append(line)
    return [(label, "\n".join(body).strip()) for label, body in found]


def _label_of(line: str) -> tuple[str | None, str]:
    heading = _HEADING.match(line)
    if heading:
        return heading["label"].strip(" *_:"), ""
    match = _LABEL_LINE.match(line)
    if match and len(match["label"].split()) <= MAX_LABEL_WORDS:
        return match["label"].strip(), match["rest"].strip()
    return None, ""


def paragraphs(answer: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", answer) if p.strip()]


def lines(answer: str) -> list[str]:
    return [ln.strip() for ln in answer.splitlines() if ln.strip()]


def sentences(answer: str) -> list[str]:
    """Sentences of each line (a line break always ends a sentence)."""
    return [s.strip() for ln in lines(answer) for s in _SENTENCE_END.split(ln) if s.strip()]


def segments(answer: str, *, fine: bool = False) -> list[str]:
    """The candidate segments of ``answer``, without duplicates, whole answer first."""
    answer = answer.strip()
    if not answer:
        return []
    found = [answer, *(body for _, body in sections(answer)), *paragraphs(answer)]
    if fine:
        found += [*lines(answer), *sentences(answer)]
    seen: set[str] = set()
    return [s for s in found if s and not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]


def list_items(segment: str) -> list[str]:
    """The items of a list written in ``segment``: one per line, or separated
    by commas, semicolons or "and"; bullets, numbering, an intro line ending
    in a colon and a leading ``Label:`` are dropped."""
    items = []
    for line in segment.splitlines():
        line = _BULLET.sub("", line).strip()
        if not line or line.endswith(":"):
            continue
        label, rest = _label_of(line)
        if label is not None:
            line = rest
        for item in _ITEM_SPLIT.split(line):
            item = _BULLET.sub("", item).strip(" \t.\"'*`")
            if item:
                items.append(item)
    return items


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Matches ``phrase`` (normalised) as whole words, allowing a plural -s/-es."""
    body = r"\s+".join(re.escape(w) for w in normalize(phrase).split())
    return re.compile(rf"(?<![a-z0-9]){body}(?:e?s)?(?![a-z0-9])")


def mentions(text: str, phrase: str) -> bool:
    """Whether normalised ``text`` names ``phrase`` as whole words."""
    return bool(phrase_pattern(phrase).search(normalize(text)))


def mentions_any(text: str, aliases: tuple[str, ...]) -> bool:
    norm = normalize(text)
    return any(phrase_pattern(a).search(norm) for a in aliases)
