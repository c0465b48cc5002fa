"""Which planner a gateway uses, decided in one place.

Claude when an API key is set (falling back to the offline planner when the
API is unreachable); otherwise the offline planner: the rule-based plan,
made at once, unless a local planner model is configured (``planner_model``)
and passes a self-check at start-up: one sample job planned validly within
``planner_timeout`` seconds. A local model that fails it is not used (the
log says why): a planner that cannot plan only costs every job its timeout.
"""

from __future__ import annotations

import logging

import trio

from hivemesh.config import Settings
from hivemesh.errors import HivemeshError
from hivemesh.models.base import ModelBackend
from hivemesh.planner.base import FallbackPlanner, Planner, PlanRequest
from hivemesh.planner.offline import OfflinePlanner

log = logging.getLogger(__name__)

SELF_CHECK_JOB = "Summarise this report and list three keywords."
SELF_CHECK_INPUT = "Sales rose 12% in the third quarter, driven by exports to Asia; costs stayed flat."


def load_planner_model(settings: Settings) -> ModelBackend | None:
    if settings.planner_model.lower() == "none":
        return None
    from hivemesh.models.sources import load_model

    return load_model(settings.planner_model, n_threads=settings.threads or None)


async def self_check(planner: OfflinePlanner, capabilities: frozenset[str]) -> str | None:
    """None when ``planner``'s local model plans a sample job validly in time,
    else why not."""
    request = PlanRequest.for_job(SELF_CHECK_JOB, [SELF_CHECK_INPUT], capabilities)
    try:
        result = await planner.plan_with_model(request)
    except trio.TooSlowError:
        return f"no plan within {planner.timeout_s:.0f}s"
    except HivemeshError as exc:
        return str(exc)
    if len(result.plan.subtasks) < 2:
        return "its plan does not split a two-part job"
    return None


async def make_planner(settings: Settings, local: ModelBackend | None,
                       capabilities: frozenset[str] = frozenset({"summarize", "extract", "general"})) -> Planner:
    offline = OfflinePlanner(None)
    if local is not None:
        candidate = OfflinePlanner(local, max_plan_tokens=384, timeout_s=settings.planner_timeout)
        problem = await self_check(candidate, capabilities)
        if problem is None:
            log.info("planner: local model %s passed its self-check", local.name)
            offline = candidate
        else:
            log.warning("planner: local model %s failed its self-check (%s); planning by rules", local.name,
                        problem)
    if settings.anthropic_api_key:
        from hivemesh.planner.claude import ClaudePlanner

        log.info("planner: Claude %s (offline planner if unreachable)", settings.claude_model)
        return FallbackPlanner(ClaudePlanner(settings.anthropic_api_key, model=settings.claude_model), offline)
    log.info("planner: offline (%s)", offline.name)
    return offline
