"""A gateway's hold on a job: its store lease, renewed while the job runs here,
well before it lapses, however slow this gateway is.

The lease says which gateway drives a job. Another gateway takes a job over
``LEASE_TTL_S`` after its last renewal, so a renewal that comes late moves a
healthy job (its clients re-attach) for nothing. Two things make renewals
late on a loaded gateway, and both are allowed for: lease calls have threads
of their own (they never queue behind the jobs' store calls), and each
renewal holds the lease for ``LEASE_TTL_S`` plus the event-loop lag seen
lately (``LoopLag.allowance``, capped).

The lease is lost when a renewal finds another gateway holding it, or when
renewals have failed (store errors) for a whole lease lifetime: by then it
may have lapsed and been taken over. Once lost, this gateway stops acting
for the job (the pipeline is fed ``LeaseLost``) and never ends it: the
gateway holding the lease does. ``verdict`` is the pure rule; ``hold``
carries it out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from hivemesh.errors import HivemeshError
from hivemesh.gateway.looplag import LoopLag
from hivemesh.gateway.store import JobStore

log = logging.getLogger(__name__)

LEASE_TTL_S = 8.0  # a dead gateway's jobs are taken over this long after its last renewal
RENEW_SHARE = 0.25  # of the TTL: a renewal comes this often, so two may come late before it lapses
RENEW_EVERY_S = LEASE_TTL_S * RENEW_SHARE
_THREADS = trio.CapacityLimiter(4)


def ttl(lag_s: float) -> float:
    """How long one renewal holds the lease, on a loop ``lag_s`` late lately."""
    return LEASE_TTL_S + lag_s


def verdict(renewed: bool | None, last_ok: float, now: float, ttl_s: float) -> str:
    """"held", "lost" (another holder; or no renewal for a whole TTL) or
    "unsure" (a renewal failed, but the lease cannot have lapsed yet).
    ``renewed``: the store's answer, None when the call failed."""
    if renewed is True:
        return "held"
    if renewed is False or now - last_ok >= ttl_s:
        return "lost"
    return "unsure"


def taking(store: JobStore, job_id: str, owner: str, lag: LoopLag) -> Callable[[], bool]:
    """A blocking take of ``job_id``'s lease, its TTL set now (for a store trip)."""
    ttl_s = ttl(lag.allowance())
    return lambda: bool(store.acquire_lease(job_id, owner, ttl_s))


def renewal(store: JobStore, job_id: str, owner: str, lag: LoopLag) -> Callable[[], bool]:
    """A blocking renewal of ``job_id``'s lease, its TTL set now (for a store trip)."""
    ttl_s = ttl(lag.allowance())
    return lambda: bool(store.renew_lease(job_id, owner, ttl_s))


async def take(store: JobStore, job_id: str, owner: str, lag: LoopLag) -> bool:
    return await trio.to_thread.run_sync(taking(store, job_id, owner, lag), limiter=_THREADS)


async def renew(store: JobStore, job_id: str, owner: str, lag: LoopLag) -> bool:
    return await trio.to_thread.run_sync(renewal(store, job_id, owner, lag), limiter=_THREADS)


async def hold(job_id: str, renew: Callable[[], Awaitable[bool]], on_lost: Callable[[str], None],
               ttl_s: float = LEASE_TTL_S) -> None:
    """Renew ``job_id``'s lease every ``RENEW_SHARE`` of its TTL until it is lost, then call ``on_lost(reason)``."""
    last_ok = trio.current_time()
    while True:
        await trio.sleep(ttl_s * RENEW_SHARE)
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
