"""A gateway's hold on a job: its store lease, renewed while the job runs here.

The lease says which gateway drives a job. It is lost when a renewal finds
another gateway holding it, or when renewals have failed (store errors) for
a whole lease lifetime: by then it may have lapsed and been taken over. Once
lost, this gateway stops acting for the job (the pipeline is fed
``LeaseLost``) and never ends it: the gateway holding the lease does.
``verdict`` is the pure rule; ``hold`` carries it out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from hivemesh.errors import HivemeshError

log = logging.getLogger(__name__)

LEASE_TTL_S = 8.0  # a dead gateway's jobs are taken over this long after its last renewal
RENEW_EVERY = 0.25  # of the TTL


def verdict(renewed: bool | None, last_ok: float, now: float, ttl_s: float) -> str:
    """"held", "lost" (another holder; or no renewal for a whole TTL) or
    "unsure" (a renewal failed, but the lease cannot have lapsed yet).
    ``renewed``: the store's answer, None when the call failed."""
    if renewed is True:
        return "held"
    if renewed is False or now - last_ok >= ttl_s:
        return "lost"
    return "unsure"


async def hold(job_id: str, renew: Callable[[], Awaitable[bool]], on_lost: Callable[[str], None],
               ttl_s: float = LEASE_TTL_S) -> None:
    """Renew ``job_id``'s lease every quarter TTL until it is lost, then call ``on_lost(reason)``."""
    last_ok = trio.current_time()
    while True:
        await trio.sleep(ttl_s * RENEW_EVERY)
        try:
            renewed: bool | None = bool(await renew())
        except HivemeshError as exc:
            log.warning("cannot renew the lease of job %s: %s", job_id, exc)
            renewed = None
        now = trio.current_time()
        state = verdict(renewed, last_ok, now, ttl_s)
        if state == "held":
            last_ok = now
        elif state == "lost":
            reason = ("another gateway holds its lease" if renewed is False
                      else f"its lease could not be renewed for {ttl_s:.0f}s")
            log.warning("lost job %s: %s; stopping it here", job_id, reason)
            on_lost(reason)
            return
