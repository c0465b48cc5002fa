"""The task suite: its schema, and loading it from JSONL files.

One task per line::

    {"id": "sum-01", "capability": "summarize", "job": "Summarise this paragraph.",
     "inputs": ["..."], "parts": [{"name": "summary", "kind": "rouge", "references": ["..."]}]}

``job`` is the user's words; ``inputs`` the documents (may be empty);
``parts`` what the answer must hold, one check each (``checks``). A
single-capability task has one part; a ``multi`` task two or more. Unknown
keys, missing fields, duplicate ids and bad checks are ``SuiteError``s that
name the file, the line and the problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hivemesh.errors import ConfigError
from hivemesh.eval.checks import Check, parse_check

CAPABILITIES = ("summarize", "extract", "math", "word_problems", "code", "classify", "multi")
TASK_KEYS = frozenset({"id", "capability", "job", "inputs", "parts"})


class SuiteError(ConfigError):
    """A task file is malformed (the message names file, line and problem)."""


@dataclass(frozen=True)
class Part:
    name: str
    check: Check


@dataclass(frozen=True)
class Task:
    id: str
    capability: str
    job: str
    inputs: tuple[str, ...]
    parts: tuple[Part, ...]


def parse_task(raw: Any) -> Task:
    """A task from one decoded JSON line; ``ValueError`` with the problem."""
    if not isinstance(raw, dict):
        raise ValueError("a task must be a JSON object")
    unknown = sorted(set(raw) - TASK_KEYS)
    missing = sorted(TASK_KEYS - set(raw))
    if unknown or missing:
        raise ValueError(f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}")
    task_id, capability, job, inputs, parts = (raw[k] for k in ("id", "capability", "job", "inputs", "parts"))
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValueError("'id' must be a non-empty string")
    if capability not in CAPABILITIES:
        raise ValueError(f"task {task_id}: capability {capability!r} is not one of {list(CAPABILITIES)}")
    if not isinstance(job, str) or not job.strip():
        raise ValueError(f"task {task_id}: 'job' must be a non-empty string")
    if not isinstance(inputs, list) or not all(isinstance(i, str) and i.strip() for i in inputs):
        raise ValueError(f"task {task_id}: 'inputs' must be a list of non-empty strings")
    return Task(task_id, capability, job, tuple(inputs), _parts(task_id, capability, parts))


def _parts(task_id: str, capability: str, raw: Any) -> tuple[Part, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"task {task_id}: 'parts' must be a non-empty list")
    wanted = "two or more parts" if capability == "multi" else "exactly one part"
    if (capability == "multi") != (len(raw) > 1):
        raise ValueError(f"task {task_id}: a {capability} task has {wanted}, not {len(raw)}")
    parts: list[Part] = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ValueError(f"task {task_id}: every part needs a 'name'")
        name = entry["name"]
        if any(p.name == name for p in parts):
            raise ValueError(f"task {task_id}: part name {name!r} is used twice")
        body = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        try:
            parts.append(Part(name, parse_check(str(entry.get("kind")), body)))
        except ValueError as exc:
            raise ValueError(f"task {task_id}: part {name!r}: {exc}") from None
    return tuple(parts)


def load_file(path: Path | Any, label: str | None = None) -> list[Task]:
    """The tasks of one JSONL file (blank lines and ``//`` comment lines are skipped)."""
    label = label or str(path)
    tasks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            tasks.append(parse_task(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{label}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        except ValueError as exc:
            raise SuiteError(f"{label}:{number}: {exc}") from None
    return tasks


def bundled_files() -> list[Any]:
    """The suite's files shipped in the package, in name order."""
    folder = resources.files("hivemesh.eval") / "tasks"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".jsonl")), key=lambda f: f.name)


def load_suite(files: Iterable[Path | Any] | None = None) -> list[Task]:
    """Every task of ``files`` (default: the bundled suite); ids must be unique."""
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for path in bundled_files() if files is None else files:
        label = f"hivemesh/eval/tasks/{path.name}" if files is None else str(path)
        for task in load_file(path, label):
            if task.id in seen:
                raise SuiteError(f"{label}: task id {task.id!r} is also in {seen[task.id]}")
            seen[task.id] = label
            tasks.append(task)
    if not tasks:
        raise SuiteError("the task suite is empty")
    return tasks


def select(tasks: Sequence[Task], capabilities: Sequence[str] = (), limit: int | None = None) -> list[Task]:
    """Tasks of ``capabilities`` (all when empty), interleaved by capability
    (so ``limit`` takes a spread), at most ``limit`` of them."""
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise ConfigError(f"unknown capability {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})")
    wanted = [c for c in CAPABILITIES if not capabilities or c in capabilities]
    queues = {c: [t for t in tasks if t.capability == c] for c in wanted}
    ordered: list[Task] = []
    while any(queues.values()):
        for cap in wanted:
            if queues[cap]:
                ordered.append(queues[cap].pop(0))
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1 (got {limit})")
    return ordered[:limit]
