"""A task's reference answer, built from its checks (pure).

Every task must pass its own checks on this answer (the suite's tests hold
the suite to that): a summary's first reference, a set's items, the number,
the label, a quoted sentence, the reference solution in a fenced block. A
multi-part task's reference is labelled sections in the order of its parts,
the shape the mesh's join gives.
"""

from __future__ import annotations

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
from hivemesh.eval.suite import Task


def part_reference(check: Check) -> str:
    if isinstance(check, RougeCheck):
        return check.references[0]
    if isinstance(check, SetCheck):
        return ", ".join(item[0] for item in check.items)
    if isinstance(check, KeywordsCheck):
        return ", ".join(entry[0] for entry in check.pool[:check.count])
    if isinstance(check, NumberCheck):
        return str(check.value)
    if isinstance(check, LabelCheck):
        return check.value
    if isinstance(check, ContainsCheck):
        return " ".join(group[0] for group in check.groups)
    if isinstance(check, QuoteCheck):
        return f'"{check.sentences[0]}"'
    if isinstance(check, CodeCheck):
        return f"```python\n{check.reference.rstrip()}\n```"
    raise TypeError(f"no reference for {type(check).__name__}")


def reference_answer(task: Task) -> str:
    if len(task.parts) == 1:
        return part_reference(task.parts[0].check)
    return "\n\n".join(f"{p.name.replace('_', ' ').title()}:\n{part_reference(p.check)}" for p in task.parts)
