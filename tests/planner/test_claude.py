"""ClaudePlanner against the real anthropic SDK, with a mock HTTP transport.

Responses have the shape the Messages API returns (recorded shape: a
``message`` with a ``tool_use`` block, ``usage`` and ``stop_reason``), so the
SDK's own parsing, retries and error mapping run for real.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import anthropic
import httpx2
import pytest

from hivemesh.errors import BackendUnavailable, ConfigError, PlanError
from hivemesh.planner.base import FallbackPlanner, PlanRequest
from hivemesh.planner.claude import ClaudePlanner
from hivemesh.planner.errors import PlannerUnavailable, PlanningFailed
from hivemesh.planner.offline import OfflinePlanner
from hivemesh.planner.plan import PlanLimits, plan_json_schema

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

KEY = "sk-ant-api03-test-key-never-logged"
CAPS = {"summarize", "general", "code"}
TAIL = "THE-LAST-SENTENCE-ONLY-WORKERS-READ."


def document() -> str:
    body = "\n\n".join(f"Section {i}. " + "Quarterly figures rose steadily. " * 40
                       for i in range(12))
    return body + "\n\n" + TAIL


def good_plan(n_chunks: int) -> dict[str, Any]:
    reads = [
        {"id": f"read_{i}", "capability": "summarize",
         "prompt": f"Note the key facts for: {{{{job}}}}\n\n{{{{chunk:{i}}}}}",
         "depends_on": [], "max_tokens": 200}
        for i in range(n_chunks)
    ]
    notes = "\n".join(f"{{{{out:read_{i}}}}}" for i in range(n_chunks))
    combine = {"id": "combine", "capability": "general", "prompt": "{{job}}\n\n" + notes,
               "depends_on": [f"read_{i}" for i in range(n_chunks)], "max_tokens": 600}
    return {"subtasks": [*reads, combine], "answer": "combine"}


def tool_message(plan: Any, usage: tuple[int, int] = (812, 301),
                 stop_reason: str = "tool_use") -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                     "name": "submit_plan", "input": plan}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "service_tier": "standard"},
    }


def text_message(text: str, usage: tuple[int, int] = (500, 120),
                 stop_reason: str = "end_turn") -> dict[str, Any]:
    message = tool_message({}, usage, stop_reason)
    message["content"] = [{"type": "text", "text": text}]
    return message


def error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {"type": "error", "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    return status, body, {"retry-after-ms": "1", "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def ok(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    return 200, body, {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fz"}


class Api:
    """A mock Messages API: answers scripted responses, records requests."""

    def __init__(self, *responses: tuple[int, dict[str, Any], dict[str, str]]) -> None:
        self.responses = list(responses)
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.headers: list[httpx2.Headers] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.method == "POST" and request.url.path == "/v1/messages"
        self.raw.append(request.content)
        self.bodies.append(json.loads(request.content))
        self.headers.append(request.headers)
        status, body, headers = self.responses.pop(0)
        return httpx2.Response(status, json=body, headers=headers)


def planner(api: Api, **kwargs: Any) -> ClaudePlanner:
    client = anthropic.Anthropic(
        api_key=KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(api))
    )
    return ClaudePlanner(client=client, **kwargs)


def job_request(limits: PlanLimits | None = None) -> PlanRequest:
    return PlanRequest.for_job("Summarise this quarterly report for the board.", [document()],
                               CAPS, limits, chunk_tokens=500)


async def test_good_plan(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    req = job_request()
    api = Api(ok(tool_message(good_plan(req.n_chunks))))
    result = await planner(api).plan(req)
    assert result.plan.planner == "claude:claude-sonnet-4-5"
    assert result.model == "claude-sonnet-4-5"
    assert result.plan.answer == "combine" and len(result.plan.subtasks) == req.n_chunks + 1
    assert (result.cloud_input_tokens, result.cloud_output_tokens) == (812, 301)
    assert result.attempts == 1 and len(api.bodies) == 1
    sent = api.headers[0]
    assert KEY in (sent.get("x-api-key", ""), sent.get("authorization", "").removeprefix("Bearer "))
    assert KEY not in caplog.text


async def test_request_carries_the_forced_tool_schema_and_no_input_text() -> None:
    limits = PlanLimits(max_subtasks=14)
    req = job_request(limits)
    api = Api(ok(tool_message(good_plan(req.n_chunks))))
    await planner(api, model="claude-haiku-4-5").plan(req)
    body = api.bodies[0]
    assert body["model"] == "claude-haiku-4-5"
    assert body["tools"] == [{
        "name": "submit_plan",
        "description": body["tools"][0]["description"],
        "input_schema": plan_json_schema(CAPS, limits),
    }]
    assert body["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    user = body["messages"][0]["content"]
    assert "Summarise this quarterly report" in user
    assert f"{req.n_chunks} chunks" in user
    assert TAIL.encode() not in api.raw[0]
    assert len(api.raw[0]) < len(document()) / 2  # a description, not the document


async def test_malformed_plan_then_good_repair() -> None:
    req = job_request()
    broken = good_plan(req.n_chunks)
    broken["subtasks"][0]["depends_on"] = ["combine"]  # a cycle
    api = Api(ok(tool_message(broken, (800, 290))), ok(tool_message(good_plan(req.n_chunks),
                                                                    (1200, 310))))
    result = await planner(api).plan(req)
    assert result.attempts == 2
    assert (result.cloud_input_tokens, result.cloud_output_tokens) == (2000, 600)
    repair = api.bodies[1]["messages"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert repair[1]["content"][0]["type"] == "tool_use"
    assert repair[1]["content"][0]["input"] == broken
    feedback = repair[2]["content"][0]
    assert feedback["type"] == "tool_result" and feedback["is_error"] is True
    assert feedback["tool_use_id"] == "toolu_01A09q90qw90lq917835lq9"
    assert "cycle: read_0 -> combine -> read_0" in feedback["content"]


async def test_malformed_twice_is_a_plan_error() -> None:
    bad = {"subtasks": [{"id": "a", "capability": "teleport", "prompt": "x",
                         "depends_on": [], "max_tokens": 10}], "answer": "a"}
    api = Api(ok(tool_message(bad, (700, 100))), ok(tool_message({"steps": []}, (900, 50))))
    with pytest.raises(PlanningFailed, match="invalid plan twice; last error: plan has unknown "
                       "key") as info:
        await planner(api).plan(job_request())
    assert isinstance(info.value, PlanError)
    assert (info.value.cloud_input_tokens, info.value.cloud_output_tokens) == (1600, 150)
    assert len(api.bodies) == 2
    assert "needs capability 'teleport'" in api.bodies[1]["messages"][2]["content"][0]["content"]


async def test_reply_without_tool_call_gets_a_text_repair() -> None:
    req = job_request()
    api = Api(ok(text_message("I think the plan should be...")),
              ok(tool_message(good_plan(req.n_chunks))))
    result = await planner(api).plan(req)
    assert result.attempts == 2
    last = api.bodies[1]["messages"][-1]
    assert last["role"] == "user" and "no submit_plan call" in last["content"][0]["text"]


async def test_plan_cut_off_at_max_tokens_is_reported_as_such() -> None:
    api = Api(ok(tool_message({"subtasks": []}, stop_reason="max_tokens")),
              ok(tool_message({"subtasks": []}, stop_reason="max_tokens")))
    with pytest.raises(PlanError, match="cut off at 4096 tokens"):
        await planner(api).plan(job_request())


async def test_rate_limit_then_success_is_retried() -> None:
    req = job_request()
    api = Api(error(429, "rate_limit_error", "Number of request tokens has exceeded your "
                    "per-minute rate limit"),
              error(529, "overloaded_error", "Overloaded"),
              ok(tool_message(good_plan(req.n_chunks))))
    result = await planner(api, max_retries=2).plan(req)
    assert result.plan.answer == "combine" and len(api.bodies) == 3
    assert (result.cloud_input_tokens, result.cloud_output_tokens) == (812, 301)


async def test_persistent_overload_is_planner_unavailable() -> None:
    api = Api(*[error(529, "overloaded_error", "Overloaded")] * 2)
    with pytest.raises(PlannerUnavailable, match="HTTP 529"):
        await planner(api, max_retries=1).plan(job_request())
    assert len(api.bodies) == 2


async def test_unreachable_api_falls_back_offline() -> None:
    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    client = anthropic.Anthropic(
        api_key=KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(unreachable)))
    claude = ClaudePlanner(client=client, max_retries=0)
    with pytest.raises(PlannerUnavailable, match="cannot reach the Anthropic API"):
        await claude.plan(job_request())
    result = await FallbackPlanner(claude, OfflinePlanner(None)).plan(job_request())
    assert result.model == "rules"


@pytest.mark.parametrize(
    ("status", "kind", "raises", "message"),
    [
        (401, "authentication_error", ConfigError, "refused the credentials"),
        (404, "not_found_error", ConfigError, "does not know model 'claude-sonnet-4-5'"),
        (400, "invalid_request_error", PlanError, "rejected the request (HTTP 400)"),
    ],
)
async def test_api_errors_are_translated(status: int, kind: str, raises: type[Exception],
                                         message: str) -> None:
    api = Api(error(status, kind, "nope"))
    with pytest.raises(raises, match=re.escape(message)) as info:
        await planner(api).plan(job_request())
    assert KEY not in str(info.value)
    assert not isinstance(info.value, PlannerUnavailable)


async def test_aggregate() -> None:
    api = Api(ok(text_message("Revenue rose 12%.", (640, 42))))
    result = await planner(api, aggregate_max_chars=20).aggregate(
        "Summarise", {"read_0": "Revenue up " + "x" * 100, "read_1": "Costs flat"})
    assert result.text == "Revenue rose 12%."
    assert (result.cloud_input_tokens, result.cloud_output_tokens) == (640, 42)
    content = api.bodies[0]["messages"][0]["content"]
    assert "Costs flat" in content and "x" * 21 not in content
    assert "tools" not in api.bodies[0]


def test_needs_a_key_and_never_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="API key"):
        ClaudePlanner(None)
    p = ClaudePlanner(KEY, "claude-opus-4-1")
    assert KEY not in repr(p) and KEY not in str(vars(p).get("name"))
    assert p.name == "claude:claude-opus-4-1"


def test_missing_sdk_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(BackendUnavailable, match="pip install anthropic"):
        ClaudePlanner(KEY)
