"""Job -> plan (a DAG of subtasks): planners, plan format, validation, pricing.

The ``anthropic`` SDK is imported only when a ``ClaudePlanner`` is created.
"""

from hivemesh.planner.base import (
    AggregateResult,
    FallbackPlanner,
    Planner,
    PlanRequest,
    PlanResult,
)
from hivemesh.planner.chunking import Chunk, InputDescription, chunk_inputs, describe
from hivemesh.planner.claude import ClaudePlanner
from hivemesh.planner.rules import rule_plan
from hivemesh.planner.offline import OfflinePlanner, ScriptedPlanner
from hivemesh.planner.plan import (
    PLAN_JSON_SCHEMA,
    Plan,
    PlanLimits,
    Subtask,
    plan_from_dict,
    plan_json_schema,
    plan_to_dict,
    render,
)
from hivemesh.planner.validate import levels, topological_order, validate

__all__ = [
    "PLAN_JSON_SCHEMA",
    "AggregateResult",
    "Chunk",
    "ClaudePlanner",
    "FallbackPlanner",
    "InputDescription",
    "OfflinePlanner",
    "Plan",
    "PlanLimits",
    "PlanRequest",
    "PlanResult",
    "Planner",
    "ScriptedPlanner",
    "Subtask",
    "chunk_inputs",
    "describe",
    "levels",
    "plan_from_dict",
    "plan_json_schema",
    "plan_to_dict",
    "render",
    "rule_plan",
    "topological_order",
    "validate",
]
