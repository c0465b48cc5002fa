"""Which planner a gateway uses, decided in one place.

Claude when an API key is set (falling back to the offline planner when the
API is unreachable); otherwise the offline planner with a local model, or the
rule-based plan alone when ``planner_model`` is "none".
"""

from __future__ import annotations

import logging

from hivemesh.config import Settings
from hivemesh.models.base import ModelBackend
from hivemesh.planner.base import FallbackPlanner, Planner
from hivemesh.planner.offline import OfflinePlanner

log = logging.getLogger(__name__)


def load_planner_model(settings: Settings) -> ModelBackend | None:
    if settings.planner_model.lower() == "none":
        return None
    from hivemesh.models.sources import load_model

    return load_model(settings.planner_model, n_threads=settings.threads or None)


def make_planner(settings: Settings, local: ModelBackend | None) -> Planner:
    offline = OfflinePlanner(local, max_plan_tokens=384, timeout_s=settings.planner_timeout)
    if settings.anthropic_api_key:
        from hivemesh.planner.claude import ClaudePlanner

        log.info("planner: Claude %s (offline planner if unreachable)", settings.claude_model)
        return FallbackPlanner(ClaudePlanner(settings.anthropic_api_key, model=settings.claude_model), offline)
    log.info("planner: offline (%s)", offline.name)
    return offline
