"""Did the answer address a part at all? (pure)

*Coverage* asks whether every part of a request reached the answer, whatever
its quality: a job that asks for a summary and three keywords and gets one
sentence and no keywords left a part out. A part is addressed when some
segment of the answer (``text.segments``, as for scoring) holds an answer of
the part's form, not copied from the job's own words:

- ``rouge`` (a summary): 5 or more words sharing content with the references
  (ROUGE-L F1 >= 0.10), no longer than the scorer's length limit;
- ``set``/``keywords`` (a list): at least ``min(2, wanted)`` items, all short
  (3 words for keywords, 5 otherwise: prose is not a list);
- ``number``: a number that the job text does not already contain;
- ``label``: exactly one of the labels named;
- ``contains`` (a name): one of the expected names or a distractor;
- ``quote``: a sentence of the input, quoted (>= 80% of its words in order);
- ``code``: a definition of the function asked for.

Whether the part is *right* is the part's score and threshold; both are
reported (``coverage`` and ``parts_satisfied``).
"""

from __future__ import annotations

import re
from typing import Any

from hivemesh.eval import numbers, text
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

SUMMARY_MIN_WORDS = 5
SUMMARY_MIN_ROUGE = 0.10
LIST_ITEM_WORDS = 5  # a list is short items only; prose split at its commas is not a list
ECHO_SHARE = 0.8  # a segment with this share of its words in the job text is the job, echoed


def addressed(check: Check, answer: str, task: Any) -> bool:
    """Whether ``answer`` holds an answer of ``check``'s form (see module doc)."""
    if isinstance(check, CodeCheck):
        return bool(re.search(rf"\bdef\s+{re.escape(check.entry)}\s*\(", answer))
    fine = isinstance(check, NumberCheck | ContainsCheck)
    job_words = set(text.words(task.job))
    for segment in text.segments(answer, fine=fine):
        if _echo(segment, job_words):
            continue
        if _form(check, segment, task):
            return True
    return False


def _echo(segment: str, job_words: set[str]) -> bool:
    words = text.words(segment)
    return bool(words) and sum(w in job_words for w in words) >= ECHO_SHARE * len(words)


def _form(check: Check, segment: str, task: Any) -> bool:
    if isinstance(check, RougeCheck):
        from hivemesh.eval.scorers import max_summary_words, rouge_l

        n = len(text.words(segment))
        return (SUMMARY_MIN_WORDS <= n <= max_summary_words(check)
                and max(rouge_l(r, segment) for r in check.references) >= SUMMARY_MIN_ROUGE)
    if isinstance(check, SetCheck | KeywordsCheck):
        limit = 3 if isinstance(check, KeywordsCheck) else LIST_ITEM_WORDS
        wanted = check.count if isinstance(check, KeywordsCheck) else len(check.items)
        items = [i for i in text.list_items(segment) if text.words(i)]
        return len(items) >= min(2, wanted) and all(len(text.words(i)) <= limit for i in items)
    if isinstance(check, NumberCheck):
        found = numbers.last_number(segment)
        return found is not None and found not in numbers.numbers_in(task.job)
    if isinstance(check, LabelCheck):
        from hivemesh.eval.scorers import labels_named

        return len(labels_named(check, segment)) == 1
    if isinstance(check, ContainsCheck):
        return any(text.mentions_any(segment, g) for g in check.groups) or any(
            text.mentions(segment, d) for d in check.distractors)
    if isinstance(check, QuoteCheck):
        from hivemesh.eval.scorers import lcs_recall

        sentences = [s for doc in task.inputs for s in text.sentences(doc)]
        return any(lcs_recall(s, segment) >= check.threshold for s in sentences)
    return False
