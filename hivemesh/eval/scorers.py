"""Scorers: a free-text answer and a check -> a score in [0, 1] and whether
the part is satisfied (score >= the check's threshold). Pure functions.

Every system's answer is read the same way: a part is scored on each
candidate segment of the answer (``text.segments``: coarse for text-like
answers, fine for single values) and keeps its best segment. How each kind
reads a segment:

- ``rouge``: ROUGE-L F1 with Porter stemming (``rouge-score``), best reference;
  times min(1, 2 x the longest reference's words / the segment's words):
  a summary may be longer than the references, but a copy of the input
  (0.21-0.32 F1 unpenalised) is no summary;
- ``set``: the segment's list items (``text.list_items``); an item of more
  than 8 words cannot match; each expected item matches at most one listed
  item that names one of its aliases; F1 of precision (matched / listed) and
  recall (matched / expected);
- ``keywords``: the first ``count`` list items (of at most 3 words); score =
  distinct pool entries among them / ``count``; a segment whose items average
  over 3 words is prose, not a list, and scores 0;
- ``number``: the segment's last number, rounded half-up to ``decimals``;
- ``label``: the labels the segment names (a longer label such as "not spam"
  hides the shorter one inside it); exactly one must be named;
- ``contains``: share of groups named; a segment naming a distractor scores 0;
- ``quote``: longest-common-subsequence recall of an expected sentence's words; a
  segment that also quotes a distractor sentence (recall >= threshold) scores 0.

``code`` parts run in a sandbox (``codecheck``) on the whole answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hivemesh.eval import numbers, text
from hivemesh.eval.addressed import addressed
from hivemesh.eval.checks import (
    Check,
    CodeCheck,
    ContainsCheck,
    KeywordsCheck,
    LabelCheck,
    NumberCheck,
    QuoteCheck,
    RougeCheck,
    SetCheck,
)

MAX_ITEM_WORDS = 8
SUMMARY_LENGTH_FACTOR = 2.0
MAX_KEYWORD_WORDS = 3


@dataclass(frozen=True)
class PartScore:
    name: str
    kind: str
    score: float
    satisfied: bool
    segment: str = ""  # the segment that scored best (may be shortened)
    addressed: bool = False  # the answer holds an answer of this part's form (``addressed``)


@dataclass(frozen=True)
class TaskScore:
    parts: tuple[PartScore, ...]

    @property
    def score(self) -> float:
        return sum(p.score for p in self.parts) / len(self.parts)

    @property
    def satisfied(self) -> int:
        return sum(p.satisfied for p in self.parts)

    @property
    def addressed(self) -> int:
        return sum(p.addressed for p in self.parts)


@functools.cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference``, stemmed."""
    return float(_rouge().score(reference, candidate)["rougeL"].fmeasure)


def max_summary_words(check: RougeCheck) -> int:
    """The longest segment scored without a length penalty: 2x the longest reference."""
    return int(SUMMARY_LENGTH_FACTOR * max(len(text.words(r)) for r in check.references))


def _rouge_segment(check: RougeCheck, segment: str) -> float:
    f1 = max(rouge_l(ref, segment) for ref in check.references)
    return f1 * min(1.0, max_summary_words(check) / max(1, len(text.words(segment))))


def set_f1(expected: Sequence[tuple[str, ...]], items: Sequence[str], max_words: int = MAX_ITEM_WORDS) -> float:
    """F1 of listed ``items`` against ``expected`` groups of aliases."""
    if not items:
        return 0.0
    unmatched = list(range(len(expected)))
    hits = 0
    for item in items:
        if len(text.words(item)) > max_words:
            continue
        for index in unmatched:
            if text.mentions_any(item, expected[index]):
                unmatched.remove(index)
                hits += 1
                break
    if hits == 0:
        return 0.0
    precision, recall = hits / len(items), hits / len(expected)
    return 2 * precision * recall / (precision + recall)


def _set_segment(check: SetCheck, segment: str) -> float:
    return set_f1(check.items, text.list_items(segment))


def _keywords_segment(check: KeywordsCheck, segment: str) -> float:
    items = text.list_items(segment)
    if not items or sum(len(text.words(i)) for i in items) > MAX_KEYWORD_WORDS * len(items):
        return 0.0  # prose split at its commas is not a list of keywords
    first = items[:check.count]
    found: set[int] = set()
    for item in first:
        if len(text.words(item)) > MAX_KEYWORD_WORDS:
            continue
        for index, aliases in enumerate(check.pool):
            if index not in found and text.mentions_any(item, aliases):
                found.add(index)
                break
    return len(found) / check.count


def _number_segment(check: NumberCheck, segment: str) -> float:
    found = numbers.last_number(segment)
    return float(found is not None and numbers.matches(found, check.value, check.decimals))


def labels_named(check: LabelCheck, segment: str) -> set[str]:
    """The labels ``segment`` names; longer phrases are matched first and
    hide what they contain ("not spam" is not also "spam")."""
    norm = text.normalize(segment)
    phrases = sorted(((p, label) for label, names in check.names().items() for p in names),
                     key=lambda pl: len(pl[0]), reverse=True)
    named = set()
    for phrase, label in phrases:
        pattern = text.phrase_pattern(phrase)
        if pattern.search(norm):
            named.add(label)
            norm = pattern.sub(" ", norm)
    return named


def _label_segment(check: LabelCheck, segment: str) -> float:
    named = labels_named(check, segment)
    return float(named == {check.value})


def _contains_segment(check: ContainsCheck, segment: str) -> float:
    if any(text.mentions(segment, d) for d in check.distractors):
        return 0.0
    return sum(text.mentions_any(segment, g) for g in check.groups) / len(check.groups)


def lcs_recall(sentence: str, segment: str) -> float:
    """Share of ``sentence``'s words found, in order, in ``segment``."""
    want, have = text.words(sentence), text.words(segment)
    if not want:
        return 0.0
    row = [0] * (len(have) + 1)
    for w in want:
        prev_diag = 0
        for j, h in enumerate(have, start=1):
            keep = row[j]
            row[j] = prev_diag + 1 if w == h else max(row[j], row[j - 1])
            prev_diag = keep
    return row[-1] / len(want)


def _quote_segment(check: QuoteCheck, segment: str) -> float:
    if any(lcs_recall(d, segment) >= check.threshold for d in check.distractors):
        return 0.0
    return max(lcs_recall(sentence, segment) for sentence in check.sentences)


_SEGMENT_SCORERS: dict[type, tuple[Callable[[Any, str], float], bool]] = {
    RougeCheck: (_rouge_segment, False),
    SetCheck: (_set_segment, False),
    KeywordsCheck: (_keywords_segment, False),
    NumberCheck: (_number_segment, True),
    LabelCheck: (_label_segment, False),
    ContainsCheck: (_contains_segment, True),
    QuoteCheck: (_quote_segment, False),
}


def score_text_part(name: str, check: Check, answer: str, task: Any = None) -> PartScore:
    """The best score of ``check`` over the answer's candidate segments (and,
    given the ``task``, whether the answer addressed the part at all)."""
    scorer, fine = _SEGMENT_SCORERS[type(check)]
    best, best_segment = 0.0, ""
    for segment in text.segments(answer, fine=fine):
        value = scorer(check, segment)
        if value > best:
            best, best_segment = value, segment
    best = min(1.0, max(0.0, best))
    satisfied = best >= check.threshold - 1e-9
    reached = satisfied or (task is not None and addressed(check, answer, task))
    return PartScore(name, check.kind, best, satisfied, _short(best_segment), reached)


def _short(segment: str, limit: int = 160) -> str:
    flat = re.sub(r"\s+", " ", segment).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def score_task(task: Any, answer: str, *, run_code: Callable[..., Any] | None = None) -> TaskScore:
    """Every part of ``task`` scored on ``answer``. Code parts go to
    ``codecheck.score_code`` (a sandboxed process each)."""
    parts = []
    for part in task.parts:
        if isinstance(part.check, CodeCheck):
            from hivemesh.eval.codecheck import score_code

            scored = score_code(part.name, part.check, answer, run=run_code)
            parts.append(replace(scored, addressed=scored.satisfied or addressed(part.check, answer, task)))
        else:
            parts.append(score_text_part(part.name, part.check, answer, task))
    return TaskScore(tuple(parts))
