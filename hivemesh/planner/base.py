"""The planner interface: ``async plan(PlanRequest) -> PlanResult``.

Implementations: ``ClaudePlanner`` (cloud), ``OfflinePlanner`` (local model
or the rule-based plan), ``ScriptedPlanner`` (given plans, for tests), and
``FallbackPlanner`` which tries one and falls back to another when the first
is unreachable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from hivemesh.planner.chunking import (
    DEFAULT_CHUNK_TOKENS,
    MAX_PREVIEW_CHARS,
    InputDescription,
    describe,
)
from hivemesh.planner.errors import PlannerUnavailable
from hivemesh.planner.plan import Plan, PlanLimits
from hivemesh.planner.validate import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanRequest:
    """What a planner is told: the instruction and a description of inputs.

    ``capabilities`` is what the mesh offers now (``None``: unknown, not
    checked). The input text itself is deliberately not here.
    """

    job: str
    inputs: tuple[InputDescription, ...] = ()
    capabilities: frozenset[str] | None = None
    limits: PlanLimits = field(default_factory=PlanLimits)

    def __post_init__(self) -> None:
        if self.capabilities is not None and not isinstance(self.capabilities, frozenset):
            object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        if not isinstance(self.inputs, tuple):
            object.__setattr__(self, "inputs", tuple(self.inputs))

    @classmethod
    def for_job(
        cls,
        job: str,
        inputs: Sequence[str] = (),
        capabilities: Iterable[str] | None = None,
        limits: PlanLimits | None = None,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        preview_chars: int = MAX_PREVIEW_CHARS,
    ) -> PlanRequest:
        """A request for ``job`` over raw ``inputs`` (described, not included).

        ``preview_chars`` (at most 200, 0 for none) is how much of each input's
        start the planner may see.
        """
        return cls(
            job=job,
            inputs=tuple(describe(inputs, chunk_tokens, preview_chars)),
            capabilities=frozenset(capabilities) if capabilities is not None else None,
            limits=limits or PlanLimits(),
        )

    @property
    def n_chunks(self) -> int:
        return sum(d.chunks for d in self.inputs)

    def check(self, plan: Plan) -> Plan:
        """``validate`` ``plan`` against this request's mesh, limits and inputs."""
        return validate(
            plan,
            self.capabilities,
            self.limits,
            n_inputs=len(self.inputs),
            n_chunks=self.n_chunks,
        )


@dataclass(frozen=True)
class PlanResult:
    """A validated plan and what making it cost."""

    plan: Plan
    model: str  # e.g. "claude-sonnet-4-5", a local model name, "rules"
    cloud_input_tokens: int = 0
    cloud_output_tokens: int = 0
    local_tokens: int = 0
    attempts: int = 1
    cloud_model: str = ""  # the model that billed the cloud tokens ("" when none did)


@dataclass(frozen=True)
class AggregateResult:
    """The final answer written by the planner LLM from subtask outputs."""

    text: str
    model: str
    cloud_input_tokens: int
    cloud_output_tokens: int


@runtime_checkable
class Planner(Protocol):
    name: str

    async def plan(self, request: PlanRequest) -> PlanResult: ...


class FallbackPlanner:
    """Use ``primary``; when it is unreachable, use ``fallback`` instead.

    Only ``PlannerUnavailable`` triggers the fallback: a bad API key or an
    invalid plan is an error the user should see.
    """

    def __init__(self, primary: Planner, fallback: Planner) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = f"{primary.name}|{fallback.name}"

    async def plan(self, request: PlanRequest) -> PlanResult:
        try:
            return await self.primary.plan(request)
        except PlannerUnavailable as exc:
            log.warning("planner %s unavailable (%s); using %s", self.primary.name, exc,
                        self.fallback.name)
            result = await self.fallback.plan(request)
            if not exc.cloud_input_tokens and not exc.cloud_output_tokens:
                return result
            return replace(result, cloud_model=exc.model,  # what the failed planner spent is billed
                           cloud_input_tokens=result.cloud_input_tokens + exc.cloud_input_tokens,
                           cloud_output_tokens=result.cloud_output_tokens + exc.cloud_output_tokens)
