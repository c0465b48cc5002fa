"""Which planner a gateway uses: rules at once, a local model only when it passes its self-check."""

from __future__ import annotations

import json

from hivemesh.config import Settings
from hivemesh.models.simulated import SimulatedModel
from hivemesh.planner.offline import OfflinePlanner
from hivemesh.planner.select import make_planner

GOOD_PLAN = {
    "subtasks": [
        {"id": "summary", "capability": "summarize", "prompt": "Summarise: {{input}}", "depends_on": [],
         "max_tokens": 64},
        {"id": "keywords", "capability": "extract", "prompt": "Three keywords: {{input}}", "depends_on": [],
         "max_tokens": 32},
        {"id": "both", "capability": "general", "prompt": "{{out:summary}}\n{{out:keywords}}",
         "depends_on": ["summary", "keywords"], "max_tokens": 128},
    ],
    "answer": "both",
}


async def test_the_default_is_the_rule_based_plan() -> None:
    planner = await make_planner(Settings(), None)
    assert isinstance(planner, OfflinePlanner) and planner.model is None and planner.name == "rules"


async def test_a_local_model_that_plans_validly_is_used() -> None:
    model = SimulatedModel("planner-ok", script=lambda prompt: json.dumps(GOOD_PLAN))
    planner = await make_planner(Settings(planner_model="x"), model)
    assert isinstance(planner, OfflinePlanner) and planner.model is model


async def test_a_local_model_that_writes_bad_plans_is_not_used(caplog) -> None:
    model = SimulatedModel("planner-bad", script=lambda prompt: '{"subtasks": [], "answer": "x"}')
    planner = await make_planner(Settings(planner_model="x"), model)
    assert planner.model is None
    assert "failed its self-check" in caplog.text


async def test_a_slow_local_model_is_not_used(caplog, autojump_clock) -> None:
    model = SimulatedModel("planner-slow", latency_s=60.0, script=lambda prompt: json.dumps(GOOD_PLAN))
    planner = await make_planner(Settings(planner_model="x", planner_timeout=5.0), model)
    assert planner.model is None
    assert "no plan within 5s" in caplog.text
