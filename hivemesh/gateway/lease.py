"""A gateway's hold on the jobs it runs: a lease in the store, renewed well
before it lapses, however slow this gateway is.

Another gateway takes a job over ``LEASE_TTL_S`` after its last renewal, so
a renewal that comes late moves a healthy job (its clients re-attach) for
nothing. Two things make renewals late on a loaded gateway, and both are
allowed for: lease calls have threads of their own (they never queue behind
the jobs' store calls), and each renewal holds the lease for ``LEASE_TTL_S``
plus the event-loop lag seen lately (``LoopLag.allowance``, capped).
"""

from __future__ import annotations

import logging

import trio

from hivemesh.errors import HivemeshError
from hivemesh.gateway.looplag import LoopLag
from hivemesh.gateway.store import JobStore

log = logging.getLogger(__name__)

LEASE_TTL_S = 8.0  # a dead gateway's jobs are taken over this long after its last renewal
RENEW_EVERY_S = LEASE_TTL_S / 4
_THREADS = trio.CapacityLimiter(4)


def ttl(lag_s: float) -> float:
    """How long one renewal holds the lease, on a loop ``lag_s`` late lately."""
    return LEASE_TTL_S + lag_s


async def take(store: JobStore, job_id: str, owner: str, lag: LoopLag) -> bool:
    return bool(await trio.to_thread.run_sync(store.acquire_lease, job_id, owner, ttl(lag.allowance()),
                                              limiter=_THREADS))


async def hold(store: JobStore, job_id: str, owner: str, lag: LoopLag, scope: trio.CancelScope) -> None:
    """Renew until cancelled; cancel ``scope`` when another gateway has the job."""
    while True:
        await trio.sleep(RENEW_EVERY_S)
        try:
            ok = await trio.to_thread.run_sync(store.renew_lease, job_id, owner, ttl(lag.allowance()),
                                               limiter=_THREADS)
        except HivemeshError as exc:
            log.warning("cannot renew the lease of job %s: %s", job_id, exc)
            continue
        if not ok:
            log.warning("lost the lease of job %s to another gateway; stopping it here", job_id)
            scope.cancel()
            return
