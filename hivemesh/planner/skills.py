"""How a rule-made subtask asks a small model for each kind of ask (pure).

Measured here (``hivemesh eval``, README): 135M-270M models follow a few-shot
*completion* prompt ("Text: ...\\nTask: ...\\nAnswer:") far better than a chat
instruction for short structured answers (keywords, labels, expressions),
while open-ended asks work as a plain chat message. Each kind of ask has one
``Skill``; the rules planner fills in the ask and the material it works on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Skill:
    format: str  # "chat" or "completion"
    template: str  # with {ask} and {source}
    stop: tuple[str, ...]
    max_tokens: int


_EXTRACT_SHOTS = (
    "Text: The storm closed schools across the county and cut power to ten thousand homes on Friday night.\n"
    "Task: List three keywords.\n"
    "Answer: storm, schools, power outage\n\n"
    "Text: Maria Lopez met Tom Chen in Madrid on Monday to sign a supply deal with Acme Corp.\n"
    "Task: List the people mentioned.\n"
    "Answer: Maria Lopez, Tom Chen\n\n"
)
_KEYWORD_SHOT = (
    "Text: The storm closed schools across the county and cut power to ten thousand homes on Friday night.\n"
    "Task: List three keywords.\nKeywords:\n1. storm\n2. schools\n3. power outage\n\n"
)
_COUNTS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_CLASSIFY_SHOTS = (
    "Text: I waited an hour and the soup was cold when it finally came.\n"
    "Task: Classify the sentiment as positive, negative or neutral.\n"
    "Answer: negative\n\n"
    "Text: The library will be closed on Monday for the public holiday.\n"
    "Task: Is this about sports, politics, weather or other?\n"
    "Answer: other\n\n"
)
_LOOKUP_SHOTS = (
    "Text: The bakery on Hill Road opened in 1998. Its owner, Rosa Diaz, bakes bread every morning at five.\n"
    "Question: Who owns the bakery?\n"
    "Answer: Rosa Diaz\n\n"
    "Text: Flights leave Oslo for Bergen, Tromso and Stavanger; the longest route is the one to Tromso.\n"
    "Question: Which route is the longest?\n"
    "Answer: Oslo to Tromso\n\n"
)
_SUMMARY_SHOT = (
    "Text: The council voted on Tuesday to close two libraries to save money. Residents protested outside the "
    "town hall, and the mayor promised to review the decision next year.\n"
    "Summary: The council voted to close two libraries to save money, despite protests from residents.\n\n"
)
_TRANSLATE_SHOTS = (
    "English: Where is the train station?\nFrench: Où est la gare ?\n\n"
    "English: The weather is nice today.\nFrench: Il fait beau aujourd'hui.\n\n"
)
_FORMULATE_TEXT_SHOTS = (
    "Text: Tea 2.50, cake 3.20, juice 1.80\n"
    "Question: What is the total of the three prices?\n"
    "Expression: 2.50 + 3.20 + 1.80\n\n"
)
_FORMULATE_SHOTS = (
    "Question: Sam has 3 boxes with 12 pencils in each box. He gives away 5 pencils. How many pencils "
    "does he have left?\n"
    "Expression: 3 * 12 - 5\n\n"
    "Question: A ticket costs 8 dollars. How much do 4 tickets cost with a 2 dollar booking fee?\n"
    "Expression: 4 * 8 + 2\n\n"
)

SKILLS: dict[str, Skill] = {
    "extract": Skill("completion", _EXTRACT_SHOTS + "Text: {source}\nTask: {ask}\nAnswer:", ("\n",), 48),
    "classify": Skill("completion", _CLASSIFY_SHOTS + "Text: {source}\nTask: {ask}\nAnswer:", ("\n",), 8),
    "summarize": Skill("completion", _SUMMARY_SHOT + "Text: {source}\nSummary:", ("\n\n", "\nText:"), 80),
    "code": Skill("chat", "{ask} Reply with one Python function in a ```python block, no tests, no explanation."
                  "\n\n{source}", (), 192),
    "translate": Skill("chat", "{ask} Reply with the translation only.\n\n{source}", (), 96),
    "translate_text": Skill("completion", _TRANSLATE_SHOTS + "English: {source}\n{target}:", ("\n",), 96),
    "formulate": Skill("completion", _FORMULATE_SHOTS + "Question: {ask}\nExpression:", ("\n",), 32),
    "formulate_text": Skill("completion", _FORMULATE_TEXT_SHOTS + _FORMULATE_SHOTS
                            + "Text: {source}\nQuestion: {ask}\nExpression:", ("\n",), 32),
    "lookup": Skill("completion", _LOOKUP_SHOTS + "Text: {source}\nQuestion: {ask}\nAnswer:", ("\n",), 32),
}
DEFAULT = Skill("chat", "{ask}\n\n{source}", (), 128)
NO_SOURCE = "(none)"


KEYWORDS = re.compile(r"\bkey ?(?:words?|terms?|phrases?)\b|\btags\b", re.IGNORECASE)


def keywords_skill(ask: str) -> Skill:
    """Keywords as a numbered list of as many as asked (default three): the
    numbers keep a small model counting, and it stops before one too many."""
    found = re.search(r"\b(\d{1,2}|" + "|".join(_COUNTS) + r")\b", ask, re.IGNORECASE)
    wanted = 3 if not found else int(found.group(1)) if found.group(1).isdigit() else _COUNTS[found.group(1).lower()]
    wanted = min(max(wanted, 1), 10)
    return Skill("completion", _KEYWORD_SHOT + "Text: {source}\nTask: {ask}\nKeywords:\n",
                 ("\n\n", "\nText:", f"\n{wanted + 1}."), 12 * wanted)


def target_language(ask: str) -> str:
    """The language an ask translates into ("... into French" -> "French"), or ""."""
    found = re.search(r"\b(?:into|to|in)\s+([A-Z][a-z]+)\b", ask)
    return found.group(1) if found and found.group(1) not in ("English", "The", "This", "It") else ""


def literal(text: str) -> str:
    """``text`` made safe to embed in a template (no placeholders)."""
    return text.replace("{{", "{ {").replace("}}", "} }")


def skill(kind: str) -> Skill:
    return SKILLS.get(kind, DEFAULT)


def sentence(ask: str) -> str:
    """The ask as one sentence: capitalised, ending in '.', '?' or '!'."""
    ask = ask.strip().rstrip(".:;,")
    ask = ask[:1].upper() + ask[1:]
    return ask if ask.endswith(("?", "!")) else ask + "."


def prompt(ask: str, kind: str, source: str = "") -> tuple[Skill, str]:
    """The skill used and the template of a subtask for ``ask`` over
    ``source`` (a template fragment: ``{{input}}``, ``{{out:part_1}}``, notes,
    or literal text)."""
    target = target_language(ask)
    if source and f"{kind}_text" in SKILLS and (kind != "translate" or target):
        kind = f"{kind}_text"
    chosen = keywords_skill(ask) if kind == "extract" and KEYWORDS.search(ask) else skill(kind)
    text = chosen.template.format(ask=sentence(literal(ask)), source="\0", target=target)
    if not source:
        if chosen.format == "chat":
            return chosen, text.replace("\n\nText:\n\0", "").replace("\n\n\0", "").rstrip()
        source = NO_SOURCE
    return chosen, text.replace("\0", source)
