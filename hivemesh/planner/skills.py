"""Per-capability prompt templates for rule-made subtasks (pure).

Small models follow a short, concrete instruction with the material after it
far better than the user's whole request; each template says what to write
and how (one line, the label only, the code only). The texts are chosen by
``hivemesh eval`` (see the README's eval section); change them with a run.
"""

from __future__ import annotations

#: kind of ask (a capability name, whether or not the mesh offers it) ->
#: (instruction suffix, max_tokens)
STYLE: dict[str, tuple[str, int]] = {
    "summarize": ("Write a short summary of one or two sentences.", 96),
    "extract": ("Write only the items, on one line, separated by commas.", 48),
    "classify": ("Reply with the label only.", 8),
    "code": ("Reply with the Python code only.", 192),
    "translate": ("Reply with the translation only.", 96),
    "general": ("", 128),
}
DEFAULT_STYLE = ("", 128)


def literal(text: str) -> str:
    """``text`` made safe to embed in a template (no placeholders)."""
    return text.replace("{{", "{ {").replace("}}", "} }")


def instruction(ask: str, kind: str) -> str:
    """The ask as an instruction, with the style note of its kind."""
    ask = literal(ask.strip().rstrip(".:;,"))
    ask = ask[:1].upper() + ask[1:]
    if not ask.endswith(("?", "!")):
        ask += "."
    note = STYLE.get(kind, DEFAULT_STYLE)[0]
    return f"{ask} {note}" if note else ask


def max_tokens(kind: str, limit: int) -> int:
    return min(STYLE.get(kind, DEFAULT_STYLE)[1], limit)


def prompt(ask: str, kind: str, source: str = "", previous: str = "") -> str:
    """A subtask template: the instruction, then the material it works on.

    ``source`` is a template fragment for the job's material (``{{input}}``,
    notes of a long input, or literal text); ``previous`` one for the result
    of the ask this one works on (``{{out:part_1}}``)."""
    lines = [instruction(ask, kind)]
    if previous:
        lines += ["", "Work on this:", previous]
        if source:
            lines += ["", "(It came from this text:)", source]
    elif source:
        lines += ["", "Text:", source]
    return "\n".join(lines)
