"""A plan: a DAG of subtasks, its strict dict form and its JSON Schema.

A ``Subtask`` names a capability, a prompt template (see
``hivemesh.planner.template``), the ids it depends on and a token limit.
``Plan.answer`` is the id of the subtask whose output answers the job;
``Plan.planner`` says who made it (``"claude:<model>"``, ``"offline:<model>"``,
``"rules"``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hivemesh.planner.errors import MalformedPlan
from hivemesh.planner.template import fill

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"


FORMATS = ("chat", "completion")
MAX_STOPS = 4


@dataclass(frozen=True)
class Subtask:
    """One step of a plan. ``format``: "chat" sends the prompt as a user
    message (the model's chat template applies); "completion" sends it as raw
    text to continue (few-shot prompts), stopping at any of ``stop``."""

    id: str
    capability: str
    prompt: str
    depends_on: tuple[str, ...] = ()
    max_tokens: int = 256
    format: str = "chat"
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    subtasks: tuple[Subtask, ...]
    answer: str
    planner: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.subtasks)

    def subtask(self, subtask_id: str) -> Subtask:
        """The subtask with ``subtask_id``; ``KeyError`` when there is none."""
        for s in self.subtasks:
            if s.id == subtask_id:
                return s
        raise KeyError(subtask_id)

    def capabilities(self) -> frozenset[str]:
        return frozenset(s.capability for s in self.subtasks)


@dataclass(frozen=True)
class PlanLimits:
    """Bounds a plan must keep (checked by ``validate``, hinted in the schema)."""

    max_subtasks: int = 16
    max_prompt_chars: int = 4000
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        for name in ("max_subtasks", "max_prompt_chars", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"PlanLimits.{name} must be >= 1")


def render(
    subtask: Subtask,
    job_text: str,
    inputs: Sequence[str] | Mapping[int, str] = (),
    chunks: Sequence[str] | Mapping[int, str] = (),
    outputs: Mapping[str, str] | None = None,
) -> str:
    """The prompt of ``subtask`` with its placeholders filled in (pure)."""
    return fill(subtask.prompt, job_text, inputs, chunks, outputs)


# --- dict form -------------------------------------------------------------

_SUBTASK_KEYS = ("id", "capability", "prompt", "depends_on", "max_tokens")
_OPTIONAL_KEYS = ("format", "stop")
_PLAN_KEYS = ("subtasks", "answer", "planner")


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON/msgpack-able data (defaults left out)."""
    return {
        "subtasks": [_subtask_dict(s) for s in plan.subtasks],
        "answer": plan.answer,
        "planner": plan.planner,
    }


def _subtask_dict(s: Subtask) -> dict[str, Any]:
    data: dict[str, Any] = {"id": s.id, "capability": s.capability, "prompt": s.prompt,
                            "depends_on": list(s.depends_on), "max_tokens": s.max_tokens}
    if s.format != "chat":
        data["format"] = s.format
    if s.stop:
        data["stop"] = list(s.stop)
    return data


def plan_from_dict(data: object, *, planner: str | None = None) -> Plan:
    """Decode plan data strictly; ``MalformedPlan`` on any unknown key or wrong type.

    ``planner`` names who made the plan and overrides a ``"planner"`` key in
    ``data``; model output has no such key, a stored plan does. One of the two
    is required.
    """
    obj = _object(data, "plan", required=("subtasks", "answer"), allowed=_PLAN_KEYS)
    items = obj["subtasks"]
    if not isinstance(items, list | tuple):
        raise MalformedPlan(f"plan.subtasks must be a list, not {_type(items)}")
    subtasks = tuple(_subtask(item, i) for i, item in enumerate(items))
    answer = _string(obj["answer"], "plan.answer")
    if planner is None:
        if "planner" not in obj:
            raise MalformedPlan("plan.planner is missing (who made this plan?)")
        planner = _string(obj["planner"], "plan.planner")
    return Plan(subtasks=subtasks, answer=answer, planner=planner)


def _subtask(data: object, index: int) -> Subtask:
    where = f"plan.subtasks[{index}]"
    obj = _object(data, where, required=_SUBTASK_KEYS, allowed=_SUBTASK_KEYS + _OPTIONAL_KEYS)
    deps = obj["depends_on"]
    if not isinstance(deps, list | tuple):
        raise MalformedPlan(f"{where}.depends_on must be a list of ids, not {_type(deps)}")
    max_tokens = obj["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise MalformedPlan(f"{where}.max_tokens must be an integer, not {_type(max_tokens)}")
    fmt = _string(obj.get("format", "chat"), f"{where}.format")
    if fmt not in FORMATS:
        raise MalformedPlan(f"{where}.format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    stop = obj.get("stop", [])
    if not isinstance(stop, list | tuple) or len(stop) > MAX_STOPS:
        raise MalformedPlan(f"{where}.stop must be a list of at most {MAX_STOPS} strings")
    stops = tuple(_string(x, f"{where}.stop[{j}]") for j, x in enumerate(stop))
    if any(not x or len(x) > 32 for x in stops):
        raise MalformedPlan(f"{where}.stop strings must be 1-32 characters")
    return Subtask(
        id=_string(obj["id"], f"{where}.id"),
        capability=_string(obj["capability"], f"{where}.capability"),
        prompt=_string(obj["prompt"], f"{where}.prompt"),
        depends_on=tuple(_string(d, f"{where}.depends_on[{j}]") for j, d in enumerate(deps)),
        max_tokens=max_tokens,
        format=fmt,
        stop=stops,
    )


def _object(
    data: object, where: str, required: Iterable[str], allowed: Iterable[str]
) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MalformedPlan(f"{where} must be an object, not {_type(data)}")
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise MalformedPlan(
            f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
    missing = [k for k in required if k not in data]
    if missing:
        raise MalformedPlan(f"{where} is missing {', '.join(missing)}")
    return data


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedPlan(f"{where} must be a string, not {_type(value)}")
    return value


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


# --- JSON Schema -------------------------------------------------------------

PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subtasks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": ID_PATTERN},
                    "capability": {"type": "string"},
                    "prompt": {"type": "string", "minLength": 1},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                    "max_tokens": {"type": "integer", "minimum": 1},
                    "format": {"type": "string", "enum": list(FORMATS)},
                    "stop": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOPS},
                },
                "required": list(_SUBTASK_KEYS),
                "additionalProperties": False,
            },
        },
        "answer": {"type": "string"},
    },
    "required": ["subtasks", "answer"],
    "additionalProperties": False,
}


def plan_json_schema(
    capabilities: Iterable[str] | None = None, limits: PlanLimits | None = None
) -> dict[str, Any]:
    """``PLAN_JSON_SCHEMA`` narrowed to a mesh's capabilities and limits.

    The narrowed schema lets a grammar-constrained local model produce only
    capabilities that exist and at most ``max_subtasks`` subtasks; ``validate``
    still checks everything, prompt length included.
    """
    schema = copy.deepcopy(PLAN_JSON_SCHEMA)
    subtasks = schema["properties"]["subtasks"]
    props = subtasks["items"]["properties"]
    names = sorted(capabilities) if capabilities is not None else []
    if names:  # an empty enum matches nothing; validate reports that case clearly
        props["capability"]["enum"] = names
    if limits is not None:
        subtasks["maxItems"] = limits.max_subtasks
        props["max_tokens"]["maximum"] = limits.max_tokens
        # No maxLength on prompts: llama.cpp turns it into one nested grammar
        # rule per character and refuses (or crawls) at a few thousand.
    return schema
