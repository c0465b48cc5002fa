"""The Claude planner: the Messages API with a forced ``submit_plan`` tool.

Claude sees the job instruction and a short description of the inputs, never
their text, and answers with a tool call whose input is a plan
(``plan_json_schema``). A plan that fails decoding or validation gets one
repair turn with the error; a second failure is a ``PlanError``. Rate limits
and overload are retried by the SDK (``max_retries``); when they persist, or
the API cannot be reached, the planner raises ``PlannerUnavailable``.

The SDK is blocking; calls run in ``trio.to_thread.run_sync``. The API key is
handed to the SDK client and never kept or logged here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from hivemesh.errors import BackendUnavailable, ConfigError, PlanError
from hivemesh.planner.base import AggregateResult, PlanRequest, PlanResult
from hivemesh.planner.errors import MalformedPlan, PlannerUnavailable, PlanningFailed
from hivemesh.planner.plan import Plan, plan_from_dict, plan_json_schema
from hivemesh.planner.prompts import (
    AGGREGATE_SYSTEM,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    aggregate_message,
    job_message,
    repair_message,
    system_prompt,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-sonnet-4-5"


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise BackendUnavailable(
            "the Claude planner needs the 'anthropic' package (pip install anthropic)"
        ) from exc
    return anthropic


@dataclass
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, usage: Any) -> None:
        self.input_tokens += int(getattr(usage, "input_tokens", 0) or 0)
        self.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)


class ClaudePlanner:
    """Plans jobs with Claude. ``client`` (an ``anthropic.Anthropic``) is for tests."""

    def __init__(
        self,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        *,
        client: Any = None,
        max_retries: int = 4,
        timeout: float = 60.0,
        max_plan_tokens: int = 4096,
        aggregate_max_chars: int = 4000,
    ) -> None:
        anthropic = _sdk()
        if client is None:
            if not api_key:
                raise ConfigError("the Claude planner needs an Anthropic API key")
            client = anthropic.Anthropic(api_key=api_key)
        self._client = client.with_options(max_retries=max_retries, timeout=timeout)
        self._sdk = anthropic
        self.model = model
        self.name = f"claude:{model}"
        self.max_plan_tokens = max_plan_tokens
        self.aggregate_max_chars = aggregate_max_chars

    def __repr__(self) -> str:
        return f"ClaudePlanner(model={self.model!r})"

    async def plan(self, request: PlanRequest) -> PlanResult:
        """A validated plan for ``request``, after at most one repair turn."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": job_message(request)}]
        usage = _Usage()
        for attempt in (1, 2):
            try:
                reply = await self._create(
                    system=system_prompt(request),
                    messages=messages,
                    max_tokens=self.max_plan_tokens,
                    tools=[_tool(request)],
                    tool_choice={"type": "tool", "name": TOOL_NAME},
                )
            except PlannerUnavailable as exc:  # the repair turn failed: the first is still billed
                raise PlannerUnavailable(str(exc), self.model, usage.input_tokens, usage.output_tokens) from exc
            usage.add(reply.usage)
            try:
                plan = self._extract(reply, request)
            except PlanError as exc:
                log.warning("plan: %s attempt %d rejected: %s", self.model, attempt, exc)
                error = exc
                messages = _with_repair(messages, reply, str(exc))
                continue
            log.info("plan ← %s: %d subtasks, %d attempt(s), %d in / %d out tokens",
                     self.model, len(plan.subtasks), attempt, usage.input_tokens,
                     usage.output_tokens)
            return PlanResult(plan, self.model, usage.input_tokens, usage.output_tokens,
                              attempts=attempt, cloud_model=self.model)
        raise PlanningFailed(
            f"{self.model} made an invalid plan twice; last error: {error}",
            self.model, usage.input_tokens, usage.output_tokens,
        ) from error

    async def aggregate(
        self, job: str, outputs: Mapping[str, str], max_tokens: int = 1024
    ) -> AggregateResult:
        """The final answer to ``job`` written by Claude from subtask ``outputs``."""
        text = aggregate_message(job, outputs, self.aggregate_max_chars)
        reply = await self._create(
            system=AGGREGATE_SYSTEM,
            messages=[{"role": "user", "content": text}],
            max_tokens=max_tokens,
        )
        usage = _Usage()
        usage.add(reply.usage)
        answer = "".join(b.text for b in reply.content if b.type == "text")
        log.info("aggregate ← %s: %d in / %d out tokens", self.model, usage.input_tokens,
                 usage.output_tokens)
        return AggregateResult(answer, self.model, usage.input_tokens, usage.output_tokens)

    def _extract(self, reply: Any, request: PlanRequest) -> Plan:
        calls = [b for b in reply.content if b.type == "tool_use" and b.name == TOOL_NAME]
        if not calls:
            raise MalformedPlan(f"the reply has no {TOOL_NAME} call "
                                f"(stop_reason {reply.stop_reason})")
        try:
            plan = plan_from_dict(calls[0].input, planner=self.name)
        except MalformedPlan as exc:
            if reply.stop_reason == "max_tokens":
                raise MalformedPlan(f"the plan was cut off at {self.max_plan_tokens} "
                                    f"tokens; make it shorter ({exc})") from None
            raise
        return request.check(plan)

    async def _create(self, **kwargs: Any) -> Any:
        call = functools.partial(self._client.messages.create, model=self.model, **kwargs)
        try:
            return await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        except self._sdk.AnthropicError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> Exception:
        sdk = self._sdk
        if isinstance(exc, sdk.APIConnectionError):
            return PlannerUnavailable(f"cannot reach the Anthropic API: {exc}")
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            if status == 429 or status >= 500:
                return PlannerUnavailable(f"Anthropic API busy or failing (HTTP {status}) "
                                          f"after retries: {exc}")
            if status in (401, 402, 403):
                return ConfigError(f"the Anthropic API refused the credentials (HTTP {status})")
            if status == 404:
                return ConfigError(f"the Anthropic API does not know model {self.model!r}")
            return PlanError(f"the Anthropic API rejected the request (HTTP {status}): {exc}")
        if isinstance(exc, sdk.CredentialsError):
            return ConfigError(f"Anthropic credentials problem: {exc}")
        return PlanError(f"Anthropic SDK error: {exc}")


def _tool(request: PlanRequest) -> dict[str, Any]:
    return {
        "name": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "input_schema": plan_json_schema(request.capabilities, request.limits),
    }


def _with_repair(messages: list[dict[str, Any]], reply: Any, error: str) -> list[dict[str, Any]]:
    """The conversation so far plus the rejected reply and the error."""
    echoed = [_block(b) for b in reply.content if b.type in ("text", "tool_use")]
    echoed = [b for b in echoed if b.get("type") == "tool_use" or b.get("text")]
    calls = [b for b in echoed if b["type"] == "tool_use"]
    if not echoed:
        note = {"type": "text", "text": repair_message(error)}
        first = messages[0]
        return [{"role": "user", "content": [{"type": "text", "text": first["content"]}, note]}]
    if calls:
        content: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": c["id"], "is_error": True,
             "content": repair_message(error) if c is calls[0] else "superseded"}
            for c in calls
        ]
    else:
        content = [{"type": "text", "text": repair_message(error)}]
    return [*messages, {"role": "assistant", "content": echoed},
            {"role": "user", "content": content}]


def _block(block: Any) -> dict[str, Any]:
    if block.type == "tool_use":
        data = block.input if isinstance(block.input, dict) else {}
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": data}
    return {"type": "text", "text": block.text}
