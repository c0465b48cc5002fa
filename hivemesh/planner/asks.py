"""What a job asks for, read by rule (pure).

A job is an instruction, sometimes with its material written inline ("...:
<paragraph>", or a quoted passage). ``read_job`` splits the instruction into
its asks ("Summarise this paragraph and list three keywords" -> two asks),
gives each a capability, a section label for the answer, and whether it
works on the previous ask's result ("Translate it into French, then count its
words": the count is of the translation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hivemesh.planner.errors import UnknownCapability

MAX_ASKS = 4
#: kinds of ask whose result is text a later ask may work on ("... then count its words")
TEXT_MAKERS = frozenset({"translate", "summarize", "extract", "general", "code"})
MAX_INSTRUCTION_CHARS = 600
INLINE_MIN_CHARS = 60

KEYWORDS: dict[str, tuple[str, ...]] = {
    "summarize": ("summar", "tl;dr", "tldr", "condense", "key points", "overview", "gist"),
    "code": ("code", "function", "python", "javascript", "implement", "script", "program",
             "bug", "refactor", "sql", "regex", "class "),
    "math": ("calculate", "compute", "math", "equation", "solve", "arithmetic", "percent",
             "sum of", "average", "how many", "how much", "total"),
    "classify": ("classify", "categori", "sentiment", "label", "which category", "is it spam",
                 "positive or negative", "tone"),
    "analysis": ("analy", "compare", "evaluate", "assess", "trend", "insight", "pros and cons"),
    "extract": ("extract", "keyword", "list all", "entities", "names of", "list the", "list three",
                "list two", "list four", "list five", "name the", "find the", "which people", "mentioned"),
    "translate": ("translat",),
}

VERBS = (
    r"list|extract|write|translate|summari[sz]e|explain|give|find|classify|generate|rate|"
    r"count|identify|suggest|create|compute|calculate|analy[sz]e|describe|draft|rewrite|"
    r"answer|name|outline|compare|produce|provide|make|tell|quote|state|say|add|multiply|"
    r"divide|subtract|pick|choose|return|show|determine|label|categori[sz]e|convert|title|"
    r"propose|recommend|mention|note|report|highlight"
)
_SPLIT = re.compile(
    rf"(?:,?\s+and\s+then\s+|,?\s+then\s+|,?\s+and\s+(?:also\s+)?|;\s*|\.\s+(?:then\s+|also\s+|finally,?\s+)?"
    rf"|,\s+)(?=(?:{VERBS})\b)",
    re.IGNORECASE,
)
_BACK = re.compile(r"\b(?:it|its|them|their|the result|the translation|the summary|the list|"
                   r"that (?:text|sentence|list|summary|translation)|this (?:translation|summary|list))\b",
                   re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]{3,}\"|“[^”]{3,}”|'[^']{12,}'")

LABELS: tuple[tuple[str, str], ...] = (
    (r"keyword|key word|key term|tags?\b", "Keywords"),
    (r"summar|tl;?dr|gist|condense", "Summary"),
    (r"translat", "Translation"),
    (r"sentiment|classif|categor|label|tone", "Classification"),
    (r"\bcount|how many", "Count"),
    (r"\bquote", "Quote"),
    (r"explain|why\b", "Explanation"),
    (r"title|headline", "Title"),
    (r"\bcode|function|program|script", "Code"),
    (r"add|subtract|multiply|divide|calculat|comput|sum|total|average|percent", "Result"),
)


@dataclass(frozen=True)
class Ask:
    text: str  # the words of this ask, e.g. "list three keywords"
    label: str  # its section in the answer, e.g. "Keywords"
    refers_back: bool  # works on the previous ask's result


@dataclass(frozen=True)
class ReadJob:
    asks: tuple[Ask, ...]
    material: str  # text the job carries inline ("" when none)


def read_job(job: str) -> ReadJob:
    """The job's asks, in the order the user wrote them, and its inline material."""
    instruction, material = _separate(job.strip())
    masked, quotes = _mask_quotes(instruction)
    parts = [masked]
    if len(masked) <= MAX_INSTRUCTION_CHARS:
        parts = [p.strip(" .,;") for p in _SPLIT.split(masked) if len(p.strip(" .,;")) >= 3]
        parts = _merge_tail(parts or [masked])
    asks: list[Ask] = []
    for i, part in enumerate(parts):
        text = _unmask(part, quotes)
        back = (i > 0 and bool(_BACK.search(part)) and not _about_material(part)
                and choose_capability(asks[-1].text, None) in TEXT_MAKERS)
        asks.append(Ask(text, label_for(text), back))
    return ReadJob(tuple(asks), material)


def split_asks(job: str) -> list[str]:
    """The asks' words alone (``read_job`` keeps their labels and links)."""
    return [a.text for a in read_job(job).asks]


def _separate(job: str) -> tuple[str, str]:
    """(instruction, inline material): material after a blank line, or after a
    colon when what follows is long enough to be text to work on."""
    head, sep, tail = job.partition("\n\n")
    if sep and tail.strip():
        return head.strip(), tail.strip()
    head, sep, tail = job.partition(":")
    if sep and len(tail.strip()) >= INLINE_MIN_CHARS:
        return head.strip(), tail.strip()
    return job, ""


def _mask_quotes(text: str) -> tuple[str, list[str]]:
    quotes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        quotes.append(match.group(0))
        return f"\x00{len(quotes) - 1}\x00"

    return _QUOTED.sub(keep, text), quotes


def _unmask(text: str, quotes: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: quotes[int(m.group(1))], text)


def _merge_tail(parts: list[str]) -> list[str]:
    """At most ``MAX_ASKS`` asks: the rest stays with the last one."""
    if len(parts) <= MAX_ASKS:
        return parts
    return [*parts[: MAX_ASKS - 1], ", and ".join(parts[MAX_ASKS - 1:])]


def _about_material(text: str) -> bool:
    """"it" that plainly means the input ("this paragraph", "the text", "the review")."""
    return bool(re.search(r"\b(?:the|this) (?:paragraph|text|passage|article|review|email|document|story|"
                          r"report|message|note|input)\b", text, re.IGNORECASE))


def label_for(ask: str) -> str:
    """The heading of this ask's section in a joined answer."""
    lowered = ask.lower()
    for pattern, label in LABELS:
        if re.search(pattern, lowered):
            return label
    words = re.sub(r"\s+", " ", ask).strip(" .:;,")
    return (words[:1].upper() + words[1:40]) or "Answer"


def choose_capability(
    text: str, available: Iterable[str] | None, prefer: Iterable[str] = ("general",)
) -> str:
    """The available capability whose keywords ``text`` hits most, else a preferred one."""
    caps = frozenset(available) if available is not None else None

    def usable(cap: str) -> bool:
        return caps is None or cap in caps

    lowered = text.lower()
    scores = {cap: sum(lowered.count(k) for k in words) for cap, words in KEYWORDS.items() if usable(cap)}
    best = max(scores.items(), key=lambda kv: kv[1], default=("", 0))
    if best[1] > 0:
        return best[0]
    for cap in (*prefer, "general"):
        if usable(cap):
            return cap
    if not caps:
        raise UnknownCapability("(rules)", "general", frozenset())
    return sorted(caps)[0]
