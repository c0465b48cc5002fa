"""Planner errors: every one is a ``hivemesh.errors.PlanError``.

    PlanError
    ├── MalformedPlan        plan data of the wrong shape (unknown key, wrong type)
    ├── InvalidPlan          a well-formed plan that breaks a rule (``.reason``)
    │   ├── EmptyPlan
    │   ├── PlanTooLarge
    │   ├── BadSubtaskId
    │   ├── DuplicateSubtask
    │   ├── UnknownDependency
    │   ├── PlanCycle            ``.cycle`` names the ids, first one repeated
    │   ├── BadAnswer
    │   ├── BadTemplate
    │   ├── UnknownCapability    ``.missing`` and ``.available``
    │   ├── PromptTooLong
    │   └── TokenLimitExceeded
    ├── PlanningFailed       the planner model's plans stayed invalid (carries the
    │                        cloud tokens spent, for accounting)
    ├── RenderError          a template could not be filled in at run time
    └── PlannerUnavailable   the planner could not be reached (network, overload)

A caller that wants a fallback planner catches ``PlannerUnavailable`` only;
a bad API key is a ``hivemesh.errors.ConfigError``, not a reason to fall back.
"""

from __future__ import annotations

from hivemesh.errors import PlanError


class MalformedPlan(PlanError):
    """Plan data is not shaped like a plan."""


class InvalidPlan(PlanError):
    """A plan broke a validation rule; ``reason`` is a short stable key."""

    reason = "invalid"


class EmptyPlan(InvalidPlan):
    reason = "empty"


class PlanTooLarge(InvalidPlan):
    reason = "too_many_subtasks"


class BadSubtaskId(InvalidPlan):
    reason = "bad_id"


class DuplicateSubtask(InvalidPlan):
    reason = "duplicate_id"


class UnknownDependency(InvalidPlan):
    reason = "unknown_dependency"


class PlanCycle(InvalidPlan):
    reason = "cycle"

    def __init__(self, cycle: tuple[str, ...]) -> None:
        super().__init__("plan has a dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class BadAnswer(InvalidPlan):
    reason = "bad_answer"


class BadTemplate(InvalidPlan):
    reason = "bad_template"


class UnknownCapability(InvalidPlan):
    reason = "unknown_capability"

    def __init__(self, subtask: str, missing: str, available: frozenset[str]) -> None:
        have = ", ".join(sorted(available)) if available else "none"
        super().__init__(
            f"subtask {subtask!r} needs capability {missing!r}, "
            f"which no peer in the mesh offers (available: {have})"
        )
        self.missing = missing
        self.available = available


class PromptTooLong(InvalidPlan):
    reason = "prompt_too_long"


class TokenLimitExceeded(InvalidPlan):
    reason = "max_tokens"


class PlanningFailed(PlanError):
    """The planner model made no valid plan; the tokens it used are still billed."""

    def __init__(
        self, message: str, model: str, cloud_input_tokens: int, cloud_output_tokens: int
    ) -> None:
        super().__init__(message)
        self.model = model
        self.cloud_input_tokens = cloud_input_tokens
        self.cloud_output_tokens = cloud_output_tokens


class RenderError(PlanError):
    """A template referenced an input, chunk or output that is not there."""


class PlannerUnavailable(PlanError):
    """The planner service could not be reached or stayed overloaded. Tokens
    spent before that (a first attempt, then the repair failed to connect) are
    still billed."""

    def __init__(self, message: str, model: str = "", cloud_input_tokens: int = 0,
                 cloud_output_tokens: int = 0) -> None:
        super().__init__(message)
        self.model = model
        self.cloud_input_tokens = cloud_input_tokens
        self.cloud_output_tokens = cloud_output_tokens
