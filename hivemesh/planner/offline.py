"""Planners that need no cloud: a local model with a fallback, and a scripted one.

``OfflinePlanner`` asks a local ``ModelBackend`` for a plan constrained to the
plan JSON Schema, decodes it strictly and validates it; when there is no model,
or its output is unusable, it returns the rule-based plan (``rule_plan``).
``PlanResult.model`` and ``Plan.planner`` say which one was used.

``ScriptedPlanner`` returns given plans in order (for tests of the gateway).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

import trio

from hivemesh.errors import ModelError, PlanError
from hivemesh.models.base import ChatMessage, Completion, CompletionRequest, ModelBackend
from hivemesh.planner.base import PlanRequest, PlanResult
from hivemesh.planner.errors import InvalidPlan, MalformedPlan
from hivemesh.planner.rules import PLANNER as RULES
from hivemesh.planner.rules import rule_plan
from hivemesh.planner.plan import Plan, plan_from_dict, plan_json_schema
from hivemesh.planner.prompts import job_message, system_prompt
from hivemesh.planner.template import needs

log = logging.getLogger(__name__)

_JSON_ONLY = "\n\nReply with the plan as one JSON object and nothing else."


class OfflinePlanner:
    """A local model's plan when it is usable, else the rule-based fallback."""

    def __init__(self, model: ModelBackend | None = None, *, max_plan_tokens: int = 1024,
                 timeout_s: float | None = None) -> None:
        self.model = model
        self.max_plan_tokens = max_plan_tokens
        self.timeout_s = timeout_s  # a slow local model gives way to the fallback plan
        self.name = f"offline:{model.name}" if model is not None else RULES

    async def plan(self, request: PlanRequest) -> PlanResult:
        if self.model is not None:
            try:
                result = await self.plan_with_model(request)
                log.info("plan ← %s: %d subtasks", self.name, len(result.plan.subtasks))
                return result
            except (PlanError, ModelError) as exc:
                log.warning("plan: %s unusable (%s); using the rule-based plan", self.name, exc)
            except trio.TooSlowError:
                log.warning("plan: %s took over %.0fs; using the rule-based plan", self.name, self.timeout_s)
        plan = rule_plan(request)
        log.info("plan ← rules: %d subtasks", len(plan.subtasks))
        return PlanResult(plan, RULES)

    async def plan_with_model(self, request: PlanRequest) -> PlanResult:
        """The local model's plan, validated; ``PlanError``, ``ModelError`` or
        ``trio.TooSlowError`` (after ``timeout_s``) when there is none."""
        if self.model is None:
            raise PlanError("no local planner model")
        with trio.fail_after(self.timeout_s if self.timeout_s is not None else float("inf")):
            completion = await self._generate(self.model, request)
        plan = self._decode(completion, request)
        return PlanResult(plan, self.model.name, local_tokens=completion.prompt_tokens + completion.completion_tokens)

    async def _generate(self, model: ModelBackend, request: PlanRequest) -> Completion:
        creq = CompletionRequest(
            messages=(
                ChatMessage("system", system_prompt(request)),
                ChatMessage("user", job_message(request) + _JSON_ONLY),
            ),
            max_tokens=self.max_plan_tokens,
            temperature=0.0,
            json_schema=json.dumps(plan_json_schema(request.capabilities, request.limits)),
        )
        cancel = threading.Event()
        try:
            return await trio.to_thread.run_sync(
                model.generate, creq, cancel, abandon_on_cancel=True
            )
        except trio.Cancelled:
            cancel.set()
            raise

    def _decode(self, completion: Completion, request: PlanRequest) -> Plan:
        if completion.finish_reason == "length":
            raise MalformedPlan(f"the plan was cut off at {self.max_plan_tokens} tokens")
        try:
            data = json.loads(completion.text)
        except (ValueError, RecursionError) as exc:
            raise MalformedPlan(f"model output is not JSON: {exc}") from None
        plan = request.check(plan_from_dict(data, planner=self.name))
        _check_reads_all_input(plan, request)
        return plan


def _check_reads_all_input(plan: Plan, request: PlanRequest) -> None:
    """A small model's plan must read every chunk; one that drops input is unusable."""
    n_chunks = request.n_chunks
    if n_chunks == 0:
        return
    covered: set[int] = set()
    for s in plan.subtasks:
        wanted = needs(s.prompt)
        if wanted.all_inputs:
            return
        covered.update(wanted.chunks)
        for d in request.inputs:
            if d.index in wanted.inputs:
                covered.update(range(d.first_chunk, d.first_chunk + d.chunks))
    missing = sorted(set(range(n_chunks)) - covered)
    if missing:
        raise InvalidPlan(f"the plan never reads chunk(s) {', '.join(map(str, missing[:10]))}")


class ScriptedPlanner:
    """Returns the given plans in order, then keeps returning the last one.

    An ``Exception`` in ``plans`` is raised on its turn. Plans are validated
    against each request unless ``check=False``. ``calls`` and ``requests``
    record what was asked.
    """

    def __init__(
        self,
        plans: Sequence[Plan | Exception],
        *,
        model: str = "scripted",
        cloud_tokens: tuple[int, int] = (0, 0),
        check: bool = True,
    ) -> None:
        if not plans:
            raise ValueError("ScriptedPlanner needs at least one plan")
        self._plans = list(plans)
        self.model = model
        self.name = f"scripted:{model}"
        self.cloud_tokens = cloud_tokens
        self.check = check
        self.calls = 0
        self.requests: list[PlanRequest] = []

    async def plan(self, request: PlanRequest) -> PlanResult:
        await trio.lowlevel.checkpoint()
        self.calls += 1
        self.requests.append(request)
        item = self._plans[min(self.calls, len(self._plans)) - 1]
        if isinstance(item, Exception):
            raise item
        plan = request.check(item) if self.check else item
        return PlanResult(plan, self.model, *self.cloud_tokens)
