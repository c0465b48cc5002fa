"""Plan dataclasses, the strict dict codec, the JSON Schema and render."""

from __future__ import annotations

import json
import re

import pytest

from hivemesh.errors import PlanError
from hivemesh.planner.errors import MalformedPlan
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

PLAN = Plan(
    subtasks=(
        Subtask("read_0", "summarize", "Notes on:\n{{chunk:0}}", (), 200),
        Subtask("read_1", "summarize", "Notes on:\n{{chunk:1}}", (), 200),
        Subtask("combine", "general", "{{job}}\n{{out:read_0}}\n{{out:read_1}}",
                ("read_0", "read_1"), 400),
    ),
    answer="combine",
    planner="claude:claude-sonnet-4-5",
)


def _data() -> dict:
    return plan_to_dict(PLAN)


def test_dict_round_trip_through_json() -> None:
    data = json.loads(json.dumps(plan_to_dict(PLAN)))
    assert plan_from_dict(data) == PLAN


def test_planner_argument_overrides_and_is_needed_without_the_key() -> None:
    data = _data()
    assert plan_from_dict(data, planner="offline:x").planner == "offline:x"
    del data["planner"]
    assert plan_from_dict(data, planner="fallback").planner == "fallback"
    with pytest.raises(MalformedPlan, match=r"plan\.planner is missing"):
        plan_from_dict(data)


def _mutated(path: tuple, value: object) -> dict:
    data = _data()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not a plan", "plan must be an object, not str"),
        (None, "plan must be an object, not null"),
        (_mutated(("extra",), 1), "plan has unknown key(s) extra"),
        (_mutated(("subtasks",), KeyError), "plan is missing subtasks"),
        (_mutated(("answer",), KeyError), "plan is missing answer"),
        (_mutated(("subtasks",), "[]"), "plan.subtasks must be a list, not str"),
        (_mutated(("answer",), 3), "plan.answer must be a string, not int"),
        (_mutated(("subtasks", 0), "read"), "plan.subtasks[0] must be an object, not str"),
        (_mutated(("subtasks", 1, "model"), "x"), "plan.subtasks[1] has unknown key(s) model"),
        (_mutated(("subtasks", 1, "prompt"), KeyError), "plan.subtasks[1] is missing prompt"),
        (_mutated(("subtasks", 0, "id"), 7), "plan.subtasks[0].id must be a string, not int"),
        (_mutated(("subtasks", 2, "depends_on"), "read_0"),
         "plan.subtasks[2].depends_on must be a list of ids, not str"),
        (_mutated(("subtasks", 2, "depends_on"), ["read_0", 1]),
         "plan.subtasks[2].depends_on[1] must be a string, not int"),
        (_mutated(("subtasks", 0, "max_tokens"), "200"),
         "plan.subtasks[0].max_tokens must be an integer, not str"),
        (_mutated(("subtasks", 0, "max_tokens"), True),
         "plan.subtasks[0].max_tokens must be an integer, not bool"),
        (_mutated(("subtasks", 0, "max_tokens"), 2.5),
         "plan.subtasks[0].max_tokens must be an integer, not float"),
    ],
)
def test_from_dict_is_strict_with_clear_messages(data: object, message: str) -> None:
    with pytest.raises(MalformedPlan, match=re.escape(message)) as info:
        plan_from_dict(data)
    assert isinstance(info.value, PlanError)


def test_schema_matches_the_codec() -> None:
    item = PLAN_JSON_SCHEMA["properties"]["subtasks"]["items"]
    assert set(item["required"]) == set(_data()["subtasks"][0])
    assert set(item["properties"]) == set(item["required"]) | {"format", "stop"}  # optional, with defaults
    assert item["additionalProperties"] is False
    assert PLAN_JSON_SCHEMA["additionalProperties"] is False
    assert set(PLAN_JSON_SCHEMA["required"]) == {"subtasks", "answer"}
    json.dumps(PLAN_JSON_SCHEMA)  # plain JSON, usable as a tool schema / grammar


def test_narrowed_schema_names_capabilities_and_limits() -> None:
    schema = plan_json_schema({"summarize", "general"}, PlanLimits(5, 900, 300))
    subtasks = schema["properties"]["subtasks"]
    props = subtasks["items"]["properties"]
    assert props["capability"]["enum"] == ["general", "summarize"]
    assert subtasks["maxItems"] == 5
    assert "maxLength" not in props["prompt"]  # llama.cpp grammars choke on long ones
    assert props["max_tokens"]["maximum"] == 300
    assert "enum" not in PLAN_JSON_SCHEMA["properties"]["subtasks"]["items"]["properties"][
        "capability"]  # the constant is not mutated
    assert "enum" not in plan_json_schema(set())["properties"]["subtasks"]["items"][
        "properties"]["capability"]
    assert plan_json_schema() == PLAN_JSON_SCHEMA


def test_render_fills_a_subtask_prompt() -> None:
    combine = PLAN.subtask("combine")
    text = render(combine, "Summarise", chunks=["c0", "c1"],
                  outputs={"read_0": "n0", "read_1": "n1"})
    assert text == "Summarise\nn0\nn1"
    assert render(PLAN.subtasks[1], "j", chunks={1: "only"}) == "Notes on:\nonly"


def test_plan_helpers() -> None:
    assert PLAN.ids == ("read_0", "read_1", "combine")
    assert PLAN.capabilities() == {"summarize", "general"}
    with pytest.raises(KeyError):
        PLAN.subtask("nope")


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_subtasks"):
        PlanLimits(max_subtasks=0)


def test_format_and_stop_are_optional_and_checked() -> None:
    data = _data()
    data["subtasks"][0] |= {"format": "completion", "stop": ["\n"]}
    plan = plan_from_dict(data)
    assert plan.subtasks[0].format == "completion" and plan.subtasks[0].stop == ("\n",)
    assert plan_from_dict(plan_to_dict(plan)) == plan
    assert "format" not in plan_to_dict(plan)["subtasks"][1]  # defaults are left out
    for bad, message in (({"format": "poem"}, "format must be one of"), ({"stop": ["a"] * 5}, "at most 4"),
                         ({"stop": [""]}, "1-32 characters"), ({"stop": "x"}, "list")):
        broken = _data()
        broken["subtasks"][0] |= bad
        with pytest.raises(MalformedPlan, match=message):
            plan_from_dict(broken)
