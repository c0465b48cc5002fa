"""What quality each side reached, as the last published eval run measured it.

``figures.json`` (shipped beside this module) holds the per-capability
scores of the run the README's eval table comes from, written by
``hivemesh eval --figures PATH``. A job's result quotes the figures for the
kind of job it was (multi-part, or its one capability), so a user sees what
the mesh and the cloud reached on such tasks, not only what they cost.
Read once, lazily; a missing or bad file means "not measured".
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE = "figures.json"
#: eval capabilities a one-subtask plan can stand for
DIRECT = ("summarize", "extract", "classify", "code", "math")


@dataclass(frozen=True)
class Figures:
    source: str  # the command of the run
    capability: str  # the eval capability quoted ("multi", "summarize", ... or "all")
    mesh: float | None
    single: float | None
    cloud: float | None


def write(path: Path, summary: Mapping[str, Any], command: str) -> None:
    """Save a run's per-capability scores in the shipped figures format."""
    systems = {name: ({"score": s["score"], "by_capability": s["by_capability"]} if s else None)
               for name, s in summary["systems"].items()}
    path.write_text(json.dumps({"command": command, "tasks": summary["tasks"], "systems": systems},
                               indent=1, sort_keys=True) + "\n", encoding="utf-8")


@functools.cache
def _load() -> dict[str, Any] | None:
    try:
        return json.loads(resources.files("hivemesh.eval").joinpath(FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("no eval figures to quote (%s)", exc)
        return None


def for_plan(capabilities: Iterable[str], joined: bool, data: Mapping[str, Any] | None = None) -> Figures | None:
    """The published scores for a plan like this one, or None when not measured."""
    data = _load() if data is None else data
    if not data:
        return None
    caps = set(capabilities)
    kind = "multi" if joined else next((c for c in DIRECT if c in caps), "all")

    def score(system: str) -> float | None:
        found = data["systems"].get(system)
        if not found:
            return None
        return found["score"] if kind == "all" else found["by_capability"].get(kind)

    return Figures(data["command"], kind, score("mesh"), score("single"), score("cloud"))
