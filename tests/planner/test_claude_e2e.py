"""Real jobs through a gateway that plans with Claude, offline: the real
``anthropic`` SDK talks HTTP to a fake Messages API on loopback
(``tests/fake_anthropic.py``) answering in the recorded response shapes:
a plan that needs a repair turn, then the repaired plan, then an aggregation.
The mesh is real (bootstrap, gateway, workers on py-libp2p); the workers run
simulated models, since this test is about the cloud path, not inference."""

from __future__ import annotations

import json

import pytest

from hivemesh.config import Settings
from hivemesh.embedded import embedded_mesh
from hivemesh.planner.pricing import cloud_usd
from hivemesh.planner.select import make_planner
from tests.fake_anthropic import FakeAnthropic, Planner, error_reply, scripted, tool_reply

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

WORKERS = {
    "summariser": ("sim:summariser", ("summarize", "general")),
    "extractor": ("sim:extractor", ("extract", "classify")),
}
TAIL = "THE-DRONES-ONLY-WORKERS-READ"
PARAGRAPH = ("Honey bees live in colonies of tens of thousands; a single queen lays the eggs. Female workers "
             "gather nectar and pollen, build wax comb and guard the hive, and male drones exist to mate. "
             + TAIL)


async def claude_mesh(monkeypatch: pytest.MonkeyPatch, api: FakeAnthropic):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    settings = Settings(anthropic_api_key="sk-ant-test-key", subtask_deadline=30.0)
    planner = await make_planner(settings, None)
    return embedded_mesh(settings, WORKERS, planner=planner)


async def test_a_job_planned_by_claude_with_a_repair_and_an_aggregation(monkeypatch) -> None:
    with FakeAnthropic(Planner(bad_first=True, answer="Bees: colonies, queen, eggs.")) as api:
        async with await claude_mesh(monkeypatch, api) as mesh:
            result = await mesh.submit("Summarise this paragraph and list three keywords.", [PARAGRAPH],
                                       aggregate=True)
    assert result.status == "done", result.error
    assert result.answer == "Bees: colonies, queen, eggs."  # Claude's aggregation is the answer
    kinds = [_kind(body) for body in api.requests]
    assert kinds == ["plan", "repair", "aggregate"]
    assert api.headers[0]["authorization"] == "Bearer sk-ant-test-key"
    # the planner saw the instruction and a 200-character preview; the workers read the rest
    assert len(PARAGRAPH) > 200
    assert PARAGRAPH[:60] in json.dumps(api.requests[0]) and TAIL not in json.dumps(api.requests[:2])
    plan = result.plan
    assert plan.planner == "claude:claude-sonnet-4-5" and plan.answer == "answer"
    assert [s.capability for s in plan.subtasks] == ["summarize", "extract", "join"]
    assert {s.model for s in result.subtasks} == {"summariser", "extractor", "joiner"}
    acc = result.accounting
    spent_in = sum(r["usage"]["input_tokens"] for r in api.replies)
    spent_out = sum(r["usage"]["output_tokens"] for r in api.replies)
    assert (acc.cloud_input_tokens, acc.cloud_output_tokens) == (spent_in, spent_out)
    assert acc.cloud_usd == pytest.approx(cloud_usd("claude-sonnet-4-5", spent_in, spent_out), abs=1e-6)
    assert acc.cloud_model == "claude-sonnet-4-5" and acc.mesh_tokens > 0


async def test_with_no_preview_the_planner_sees_no_input_text(monkeypatch) -> None:
    with FakeAnthropic(Planner()) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        settings = Settings(anthropic_api_key="sk-ant-test-key", planner_preview=0)
        async with embedded_mesh(settings, WORKERS, planner=await make_planner(settings, None)) as mesh:
            result = await mesh.submit("Summarise this paragraph.", [PARAGRAPH])
    assert result.status == "done", result.error
    assert "Honey" not in json.dumps(api.requests[0]) and "starts: ''" in json.dumps(api.requests[0])


async def test_tokens_spent_on_a_plan_that_failed_are_billed(monkeypatch) -> None:
    bad = {"subtasks": [{"id": "a", "capability": "nope", "prompt": "x", "depends_on": [], "max_tokens": 5}],
           "answer": "a"}
    with FakeAnthropic(scripted(tool_reply(bad, usage=(900, 80)))) as api:
        async with await claude_mesh(monkeypatch, api) as mesh:
            result = await mesh.submit("Summarise this paragraph.", [PARAGRAPH])
    assert result.status == "failed" and "invalid plan twice" in result.error
    assert len(api.requests) == 2  # the plan and its repair
    acc = result.accounting
    assert (acc.cloud_input_tokens, acc.cloud_output_tokens) == (1800, 160)
    assert acc.cloud_usd > 0
    assert acc.cloud_usd == pytest.approx(cloud_usd("claude-sonnet-4-5", 1800, 160), abs=1e-6)


async def test_claude_unreachable_mid_repair_falls_back_to_rules_and_bills_the_first_try(monkeypatch) -> None:
    bad = {"subtasks": [{"id": "a", "capability": "nope", "prompt": "x", "depends_on": [], "max_tokens": 5}],
           "answer": "a"}
    overloaded = error_reply(529, "overloaded_error", "Overloaded")
    with FakeAnthropic(scripted(tool_reply(bad, usage=(700, 60)), overloaded)) as api:
        async with await claude_mesh(monkeypatch, api) as mesh:
            result = await mesh.submit("Summarise this paragraph and list three keywords.", [PARAGRAPH])
    assert result.status == "done", result.error
    assert result.plan.planner == "rules"
    assert len(api.requests) >= 2
    acc = result.accounting
    assert (acc.cloud_input_tokens, acc.cloud_output_tokens) == (700, 60)
    assert acc.cloud_model == "claude-sonnet-4-5" and acc.cloud_usd > 0


def _kind(body: dict) -> str:
    if body.get("tool_choice", {}).get("name") != "submit_plan":
        return "aggregate"
    last = body["messages"][-1]["content"]
    return "repair" if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last) else "plan"
