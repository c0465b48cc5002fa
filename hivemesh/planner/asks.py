"""What a job asks for, read by rule (pure).

A job is an instruction, sometimes with its material written inline ("...:
<paragraph>", or a quoted passage). ``read_job`` splits the instruction into
its asks ("Summarise this paragraph and list three keywords" -> two asks),
gives each a *kind* (what sort of answer it wants: ``summarize``, ``extract``,
``classify``, ``count``, ``math``, ``lookup``, ...), a section label for the
answer, and whether it works on the previous ask's result ("Translate it into
French, then count its words": the count is of the translation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hivemesh.planner.errors import UnknownCapability

MAX_ASKS = 4
MAX_INSTRUCTION_CHARS = 600
INLINE_MIN_CHARS = 60

KEYWORDS: dict[str, tuple[str, ...]] = {
    "summarize": ("summar", "tl;dr", "tldr", "condense", "key points", "overview", "gist", "sum this up",
                  "sum it up", "what is this passage about", "what is this about", "one-line"),
    "code": ("code", "function", "python", "javascript", "implement", "script", "program",
             "bug", "refactor", "sql", "regex", "class "),
    "math": ("calculate", "compute", "math", "equation", "solve", "arithmetic", "percent",
             "sum of", "average", "how many", "how much", "total", "work out"),
    "classify": ("classify", "categori", "sentiment", "which category", "is it spam", "label",
                 "positive or negative"),
    "analysis": ("analy", "compare", "evaluate", "assess", "trend", "insight", "pros and cons"),
    "extract": ("extract", "keyword", "list ", "entities", "names of", "name all", "name the", "pull out",
                "mention", "find all", "find every", "ingredients", "which companies", "which people",
                "which cities", "which countries"),
    "translate": ("translat",),
}

VERBS = (
    r"list|extract|write|translate|summari[sz]e|explain|give|find|classify|generate|rate|"
    r"count|identify|suggest|create|compute|calculate|analy[sz]e|describe|draft|rewrite|"
    r"answer|name|outline|compare|produce|provide|make|tell|quote|state|say|add|multiply|"
    r"divide|subtract|pick|choose|return|show|determine|label|categori[sz]e|convert|title|"
    r"propose|recommend|mention|note|report|highlight|work out|pull out|sort"
)
QUESTIONS = r"which|who|what|where|when|how|is|are|does|do"
_SPLIT = re.compile(
    rf"(?:,?\s+and\s+then\s+|,?\s+then\s+|,?\s+and\s+(?:also\s+)?|;\s*|\.\s+(?:then\s+|also,?\s+|finally,?\s+)?"
    rf"|,\s+|(?<=\?)\s+(?:also,?\s+|and\s+)?)(?=(?:{VERBS})\b)"
    rf"|(?:,\s+and\s+|;\s*|(?<=\?)\s+(?:also,?\s+|and\s+)?|\.\s+also,?\s+)(?=(?:{QUESTIONS})\b)",
    re.IGNORECASE,
)
_BACK = re.compile(r"\b(?:it|its|them|their|the result|the translation|the summary|the list|"
                   r"that (?:text|sentence|list|summary|translation)|this (?:translation|summary|list))\b",
                   re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]{3,}\"|“[^”]{3,}”|'[^']{12,}'")
_OPTION = r"[\w'-]+(?: [\w'-]+){0,2}"
_OPTIONS = re.compile(rf"((?:{_OPTION},\s*)*{_OPTION},?\s+or\s+(?:not\s+)?{_OPTION})\s*$", re.IGNORECASE)
_CHOOSING = re.compile(r"\b(?:classif|categori|sort|rate|label|tell me if|decide|is it|is this|as|between)",
                       re.IGNORECASE)
_IDIOM = re.compile(r"\bor (?:two|three|so|more|less|fewer|not at all|anything|something)\s*[?.]?\s*$",
                    re.IGNORECASE)
_MODIFIER = re.compile(r"^(?:(?:just|only|please)\s+)?(?:(?:answer|reply|respond)\b|keep (?:it|this)\b|"
                       r"be (?:brief|short|concise)\b|(?:list|name|give|show) (?:them|it|those)\s*$|"
                       r"in (?:one|a) (?:word|sentence)\s*$|use (?:one|a|bullet)\b)", re.IGNORECASE)
_ONE_OF = re.compile(r"\bone of(?: the following)?\s*:", re.IGNORECASE)
UNITS = ("words", "sentences", "characters", "letters", "lines")
_COUNT_UNIT = re.compile(rf"\b(?:how many|count(?: the)?(?: number of)?|number of)\s+({'|'.join(UNITS)})\b",
                         re.IGNORECASE)
_COUNT_THINGS = re.compile(r"\b(?:how many|count(?: how many)?(?: the)?(?: number of)?)\s+"
                           r"([a-z]+(?: (?!are\b|is\b|were\b)[a-z]+)?)\s+"
                           r"(?:are\s+|is\s+|were\s+)?(?:named|mentioned|listed|there)\b", re.IGNORECASE)
_NUMERIC_QUESTION = re.compile(r"^(?:what(?:'s| is)?|how (?:much|many|long|far)|tell me what|work out|find)\b",
                               re.IGNORECASE)
_LOOKUP = re.compile(r"^(?:(?:tell me\s+)?(?:which|who|what|where|when)\b|tell me (?:who|which|what|where|when))",
                     re.IGNORECASE)

LABELS: tuple[tuple[str, str], ...] = (
    (r"keyword|key word|key term|tags?\b", "Keywords"),
    (r"summar|tl;?dr|gist|condense|sum (?:this|it) up", "Summary"),
    (r"translat", "Translation"),
    (r"sentiment", "Sentiment"),
    (r"\bquote", "Quote"),
    (r"explain|why\b", "Explanation"),
    (r"\btitle|headline", "Title"),
    (r"\bcode\b|function|program|script", "Code"),
)
_LEAD = re.compile(r"^(?:please\s+|also\s+|then\s+|and\s+)*(?:tell me|give me|show me|list|name|extract|pull out|"
                   r"find|identify|count|classify|rate|work out|calculate|compute|state|write down)?\s*"
                   r"(?:how many|which|who|what|where|when)?\s*(?:is|are|was|were)?\s*(?:(?:the|a|an|all|every|its)\b)?\s*",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Ask:
    text: str  # the words of this ask, e.g. "list three keywords"
    label: str  # its section in the answer, e.g. "Keywords"
    refers_back: bool  # works on the previous ask's result
    kind: str = "general"
    detail: str = ""  # the kind's argument: a count's unit ("words") or thing ("people")


@dataclass(frozen=True)
class ReadJob:
    asks: tuple[Ask, ...]
    material: str  # text the job carries inline ("" when none)


def read_job(job: str, has_inputs: bool = False) -> ReadJob:
    """The job's asks, in the order the user wrote them, and its inline
    material (none when the job has input documents: those are the material)."""
    instruction, material = (job.strip(), "") if has_inputs else _separate(job.strip())
    masked, quotes = _mask_quotes(instruction)
    parts = [masked]
    if len(masked) <= MAX_INSTRUCTION_CHARS:
        parts = [p.strip(" ,;") for p in _SPLIT.split(masked) if len(p.strip(" .,;")) >= 3]
        parts = _merge_tail(_merge_modifiers(parts) or [masked])
    has_material = has_inputs or bool(material)
    asks: list[Ask] = []
    for i, part in enumerate(parts):
        text = _unmask(part, quotes)
        kind, detail = kind_of(text, has_material)
        back = (i > 0 and bool(_BACK.search(part)) and not _about_material(part)
                and asks[-1].kind in TEXT_MAKERS)
        asks.append(Ask(text, label_for(text, kind, detail), back, kind, detail))
    return ReadJob(tuple(asks), material)


#: kinds of ask whose result is text a later ask may work on ("... then count its words")
TEXT_MAKERS = frozenset({"translate", "summarize", "extract", "general", "code"})


def kind_of(ask: str, has_material: bool) -> tuple[str, str]:
    """(kind, detail): what sort of answer ``ask`` wants."""
    found = _COUNT_UNIT.search(ask)
    if found:
        return "count", found.group(1).lower()
    found = _COUNT_THINGS.search(ask)
    if found and has_material:
        return "count_items", found.group(1).lower()
    if _is_choice(ask) or _ONE_OF.search(ask):
        return "classify", ""
    if re.match(r"\s*quote\b", ask, re.IGNORECASE):
        return "lookup", ""
    from hivemesh.planner.mathwords import to_expression

    if to_expression(ask) is not None:
        return "math", ""
    keyword_kind = choose_capability(ask, None, ("general",))
    if re.search(r"\d", ask) and (_NUMERIC_QUESTION.search(ask) or keyword_kind == "math"):
        return "math", ""
    if keyword_kind != "general":
        return keyword_kind, ""
    if has_material and _LOOKUP.search(ask):
        return "lookup", ""
    return "general", ""


def _is_choice(ask: str) -> bool:
    """Offers options to pick from: "positive, negative or neutral?", "spam or not spam?"."""
    for sentence in re.split(r"(?<=[?.!])\s+", ask.strip()):
        question = sentence.rstrip().endswith("?")
        body = sentence.strip().rstrip("?.! ")
        if _IDIOM.search(sentence) or not _OPTIONS.search(body):
            continue
        if question or _CHOOSING.search(body):
            return True
    return False


def split_asks(job: str) -> list[str]:
    """The asks' words alone (``read_job`` keeps their kinds, labels and links)."""
    return [a.text for a in read_job(job).asks]


def _separate(job: str) -> tuple[str, str]:
    """(instruction, inline material): material after a blank line, or after a
    colon when what follows is long enough to be text to work on."""
    head, sep, tail = job.partition("\n\n")
    if sep and tail.strip():
        return head.strip(), tail.strip()
    head, sep, tail = job.partition(":")
    if sep and len(tail.strip()) >= INLINE_MIN_CHARS and not _ONE_OF.search(head + ":"):
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


def _merge_modifiers(parts: list[str]) -> list[str]:
    """"Answer with one word", "Just list them": how to answer the ask before, not an ask."""
    merged: list[str] = []
    for part in parts:
        if merged and _MODIFIER.search(part.strip(" .")):
            joiner = " " if merged[-1].endswith(("?", ".", "!")) else ". "
            merged[-1] = merged[-1] + joiner + part
        else:
            merged.append(part)
    return [p.strip(" .") if not p.endswith("?") else p for p in merged]


def _merge_tail(parts: list[str]) -> list[str]:
    """At most ``MAX_ASKS`` asks: the rest stays with the last one."""
    if len(parts) <= MAX_ASKS:
        return parts
    return [*parts[: MAX_ASKS - 1], ", and ".join(parts[MAX_ASKS - 1:])]


def _about_material(text: str) -> bool:
    """"it" that plainly means the input ("this paragraph", "the text", "the review")."""
    return bool(re.search(r"\b(?:the|this) (?:(?:english|original) )?(?:paragraph|text|passage|article|review|email|"
                          r"document|story|report|message|note|input|sentence)\b", text, re.IGNORECASE))


def label_for(ask: str, kind: str = "general", detail: str = "") -> str:
    """The heading of this ask's section in a joined answer."""
    lowered = ask.lower()
    for pattern, label in LABELS:
        if re.search(pattern, lowered):
            return label
    if kind == "count":
        return f"Number of {detail}"
    if kind == "count_items":
        return f"Number of {detail}"
    if kind == "classify":
        return "Classification"
    if kind == "math":
        return "Result"
    words = _LEAD.sub("", re.sub(r"\s+", " ", ask).strip(" .:;,?!"))
    words = re.split(r"\s+(?:in|of|from|on|for|about|that|does|do|is|are|in the)\b", words, maxsplit=1)[0]
    words = " ".join(words.split()[:4])
    return (words[:1].upper() + words[1:]) or "Answer"


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
