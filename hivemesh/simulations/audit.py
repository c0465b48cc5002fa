"""After a run, read every job's event log from the gateways' store: a job
finished twice there (two terminal events, e.g. by two gateways) is a
duplicate even if its client saw only one answer."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hivemesh.errors import DecodeError, HivemeshError
from hivemesh.mesh import wire
from hivemesh.gateway.jobwire import JobEvent
from hivemesh.gateway.store import JobStore

log = logging.getLogger(__name__)


def audit_store(store: JobStore, job_ids: Iterable[str]) -> dict[str, Any]:
    """Blocking; counts terminal events per job in ``store``."""
    checked, twice, missing = 0, [], 0
    try:
        for job_id in job_ids:
            terminal = sum(_terminal(raw) for raw in store.events(job_id, 0))
            checked += 1
            missing += terminal == 0
            if terminal > 1:
                twice.append(job_id)
    except HivemeshError as exc:
        log.warning("store audit stopped: %s", exc)
        return {"checked": checked, "jobs_finished_twice": twice, "without_terminal_event": missing,
                "error": str(exc)}
    return {"checked": checked, "jobs_finished_twice": twice, "without_terminal_event": missing}


def _terminal(raw: bytes) -> bool:
    try:
        return wire.decode(JobEvent, raw).terminal
    except DecodeError:
        return False
