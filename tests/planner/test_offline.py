"""OfflinePlanner (fake local model + fallback), ScriptedPlanner, FallbackPlanner."""

from __future__ import annotations

import json
import threading

import pytest
import trio

from hivemesh.errors import ModelError, PlanError
from hivemesh.models.base import Completion, CompletionRequest
from hivemesh.planner.base import FallbackPlanner, Planner, PlanRequest
from hivemesh.planner.errors import PlanCycle, PlannerUnavailable, UnknownCapability
from hivemesh.planner.offline import OfflinePlanner, ScriptedPlanner
from hivemesh.planner.plan import Plan, PlanLimits, Subtask, plan_json_schema

CAPS = {"summarize", "general"}


class FakeModel:
    """A tiny ModelBackend: replies with scripted texts, records requests."""

    name = "fake-slm"
    context_size = 4096

    def __init__(self, *replies: str | Exception, finish_reason: str = "stop") -> None:
        self.replies = list(replies)
        self.finish_reason = finish_reason
        self.requests: list[CompletionRequest] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, request: CompletionRequest, cancel: threading.Event | None = None
                 ) -> Completion:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(reply, 120, 30, 0.5, self.finish_reason, self.name)


def doc(paragraphs: int) -> str:
    return "\n\n".join(f"Section {i}. " + "text " * 300 for i in range(paragraphs))


def model_plan(chunks: int) -> str:
    reads = [{"id": f"r{i}", "capability": "summarize", "prompt": f"Sum {{{{chunk:{i}}}}}",
              "depends_on": [], "max_tokens": 100} for i in range(chunks)]
    final = {"id": "final", "capability": "general",
             "prompt": "{{job}} " + " ".join(f"{{{{out:r{i}}}}}" for i in range(chunks)),
             "depends_on": [f"r{i}" for i in range(chunks)], "max_tokens": 300}
    return json.dumps({"subtasks": [*reads, final], "answer": "final"})


async def test_model_plan_is_used_when_valid() -> None:
    req = PlanRequest.for_job("Summarise", [doc(3)], CAPS, chunk_tokens=400)
    model = FakeModel(model_plan(req.n_chunks))
    result = await OfflinePlanner(model).plan(req)
    assert result.plan.planner == "offline:fake-slm"
    assert result.model == "fake-slm"
    assert result.plan.answer == "final"
    assert result.cloud_input_tokens == result.cloud_output_tokens == 0
    assert result.local_tokens == 150


async def test_model_is_constrained_to_the_plan_schema_and_never_sees_the_input() -> None:
    text = doc(3) + "\n\nUNIQUE-SENTENCE-AT-THE-END."
    req = PlanRequest.for_job("Summarise", [text], CAPS, PlanLimits(max_subtasks=8),
                              chunk_tokens=400)
    model = FakeModel(model_plan(req.n_chunks))
    await OfflinePlanner(model).plan(req)
    sent = model.requests[0]
    assert json.loads(sent.json_schema or "") == plan_json_schema(CAPS, PlanLimits(max_subtasks=8))
    assert sent.temperature == 0.0
    assert "UNIQUE-SENTENCE-AT-THE-END" not in sent.text_for_counting()
    assert "Summarise" in sent.text_for_counting()


@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        ("this is not json", "stop"),
        ('{"subtasks": [], "answer": "x"}', "stop"),  # empty plan
        ('{"subtasks": [{"id": "a"}], "answer": "a"}', "stop"),  # malformed
        (json.dumps({"subtasks": [{"id": "a", "capability": "general", "prompt": "{{job}}",
                                   "depends_on": [], "max_tokens": 10}], "answer": "a"}),
         "stop"),  # valid, but never reads the input
        (model_plan(3)[:-10], "length"),  # cut off
        (ModelError("model crashed"), "stop"),
    ],
)
async def test_unusable_model_output_falls_back(reply: str | Exception, finish: str) -> None:
    req = PlanRequest.for_job("Summarise", [doc(3)], CAPS, chunk_tokens=400)
    result = await OfflinePlanner(FakeModel(reply, finish_reason=finish)).plan(req)
    assert result.model == "rules" and result.plan.planner == "rules"
    assert result.plan.answer == "answer"
    assert result.plan.capabilities() <= CAPS


async def test_model_plan_with_missing_capability_falls_back() -> None:
    req = PlanRequest.for_job("Summarise", ["short"], {"general"})
    bad = json.dumps({"subtasks": [{"id": "a", "capability": "summarize",
                                    "prompt": "{{input}}", "depends_on": [],
                                    "max_tokens": 10}], "answer": "a"})
    result = await OfflinePlanner(FakeModel(bad)).plan(req)
    assert result.model == "rules"
    assert result.plan.capabilities() == {"general"}


async def test_without_a_model_the_fallback_is_used() -> None:
    planner = OfflinePlanner(None)
    assert planner.name == "rules"
    result = await planner.plan(PlanRequest.for_job("Hello?", [], {"general"}))
    assert result.plan.ids == ("answer",) and result.local_tokens == 0
    assert isinstance(planner, Planner)


async def test_cancelling_sets_the_models_cancel_event() -> None:
    started = threading.Event()
    seen: list[threading.Event] = []

    class SlowModel(FakeModel):
        def generate(self, request, cancel=None):  # type: ignore[no-untyped-def]
            assert cancel is not None
            seen.append(cancel)
            started.set()
            cancel.wait(5)
            return Completion("{}", 1, 1, 0.1, "cancelled", self.name)

    req = PlanRequest.for_job("Summarise", ["x"], CAPS)
    with trio.move_on_after(0.2):
        await OfflinePlanner(SlowModel()).plan(req)
    assert started.is_set() and seen[0].is_set()


PLAN = Plan((Subtask("a", "general", "{{job}}", (), 50),), "a", "scripted")


async def test_scripted_planner_returns_plans_in_order_and_counts() -> None:
    other = Plan((Subtask("b", "summarize", "{{input}}", (), 50),), "b", "scripted")
    planner = ScriptedPlanner([PLAN, other], cloud_tokens=(300, 80))
    req = PlanRequest.for_job("job", ["doc"], CAPS)
    results = [await planner.plan(req) for _ in range(3)]
    assert [r.plan.answer for r in results] == ["a", "b", "b"]
    assert planner.calls == 3 and planner.requests == [req] * 3
    assert (results[0].cloud_input_tokens, results[0].cloud_output_tokens) == (300, 80)
    assert isinstance(planner, Planner)


async def test_scripted_planner_validates_and_raises_given_errors() -> None:
    planner = ScriptedPlanner([PlanCycle(("a", "a")), PLAN])
    req = PlanRequest.for_job("job", [], {"summarize"})
    with pytest.raises(PlanCycle):
        await planner.plan(req)
    with pytest.raises(UnknownCapability):  # PLAN needs "general"
        await planner.plan(req)
    unchecked = ScriptedPlanner([PLAN], check=False)
    assert (await unchecked.plan(req)).plan == PLAN
    with pytest.raises(ValueError):
        ScriptedPlanner([])


async def test_fallback_planner_only_falls_back_when_unavailable() -> None:
    req = PlanRequest.for_job("Hello?", [], CAPS)
    down = ScriptedPlanner([PlannerUnavailable("cloud down")])
    result = await FallbackPlanner(down, OfflinePlanner(None)).plan(req)
    assert result.model == "rules"
    broken = ScriptedPlanner([PlanError("bad plan twice")])
    with pytest.raises(PlanError, match="bad plan twice"):
        await FallbackPlanner(broken, OfflinePlanner(None)).plan(req)
