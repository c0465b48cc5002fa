"""The job store interface shared by gateways.

A ``JobStore`` holds what must survive a gateway: job records, per-subtask
state, leases that say which gateway drives a job, the plan and output caches
and a replayable progress log per job. Values are opaque ``bytes`` (callers
encode their records with msgpack); the store knows no schemas.

Every method is blocking and thread-safe; trio code calls them through
``trio.to_thread.run_sync``. Implementations raise ``StoreUnavailable`` when
the backing server cannot be reached and ``StoreError`` for other failures,
including use after ``close()``.

The ``trust`` hash holds one record per worker, written compare-and-swap:
a gateway reads a record, applies one check outcome (a pure function) and
writes it back only if no other gateway wrote it meanwhile, else it reads
again.

Job lifecycle: ``create_job_if_absent`` writes the record and adds the job to
the active set; ``put_job`` replaces the record (keeping any expiry);
``mark_job_done`` drops it from the active set and gives the record, its
subtasks and events the finished-job TTL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

DEFAULT_FINISHED_TTL_S = 24 * 60 * 60.0


@runtime_checkable
class JobStore(Protocol):
    """Shared gateway state; see the module docstring for semantics."""

    # job records
    def create_job_if_absent(self, job_id: str, data: bytes) -> bool:
        """Atomically create the job and mark it active; False if it exists."""
        ...

    def put_job(self, job_id: str, data: bytes) -> None: ...

    def get_job(self, job_id: str) -> bytes | None: ...

    def list_active_jobs(self) -> list[str]:
        """Ids of jobs created and not yet marked done, sorted."""
        ...

    def mark_job_done(self, job_id: str) -> None: ...

    # per-subtask state
    def put_subtask(self, job_id: str, subtask_id: str, data: bytes) -> None: ...

    def get_subtasks(self, job_id: str) -> dict[str, bytes]: ...

    # leases (gateway failover)
    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        """Take the lease if free (or already ours, refreshing it)."""
        ...

    def renew_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        """Extend the lease only while ``owner`` still holds it."""
        ...

    def release_lease(self, job_id: str, owner: str) -> None:
        """Drop the lease if ``owner`` holds it; otherwise do nothing."""
        ...

    def lease_owner(self, job_id: str) -> str | None: ...

    # caches
    def get_plan(self, key: str) -> bytes | None: ...

    def put_plan(self, key: str, data: bytes, ttl_s: float) -> None: ...

    def get_output(self, key: str) -> bytes | None: ...

    def put_output(self, key: str, data: bytes, ttl_s: float) -> None: ...

    # progress events
    def append_event(self, job_id: str, data: bytes) -> int:
        """Append to the job's event log; return the new event's index."""
        ...

    def events(self, job_id: str, start: int = 0) -> list[bytes]:
        """Events from index ``start`` on (0 = all), for replay."""
        ...

    def write_step(self, job_id: str, subtasks: Sequence[tuple[str, bytes]], events: Sequence[bytes]) -> list[int]:
        """A pipeline step's writes: the subtask records (``put_subtask``), then
        the events in order (``append_event``), in one round trip where the
        store has them; the events' indexes."""
        ...

    # the gateways' shared trust record (``gateway.trustshare``): peer id -> record bytes
    def trust_records(self) -> dict[str, bytes]:
        """Every peer's record."""
        ...

    def trust_record(self, peer_id: str) -> bytes | None: ...

    def swap_trust_record(self, peer_id: str, old: bytes | None, new: bytes) -> bool:
        """Set the peer's record to ``new`` only if it is still ``old`` (None: absent);
        False, and nothing written, if another gateway changed it meanwhile."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the store cannot be used."""
        ...

    def close(self) -> None: ...


def ttl_ms(ttl_s: float) -> int:
    """A positive TTL in seconds as whole milliseconds (at least 1)."""
    if not isinstance(ttl_s, (int, float)) or isinstance(ttl_s, bool):
        raise TypeError(f"ttl_s must be a number, got {ttl_s!r}")
    if not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ValueError(f"ttl_s must be a positive finite number, got {ttl_s!r}")
    return max(1, math.ceil(ttl_s * 1000))


def check_bytes(data: bytes) -> bytes:
    """Values are raw bytes; anything else is a caller bug."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"store values must be bytes, got {type(data).__name__}")
    return bytes(data)


def check_start(start: int) -> int:
    if not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be a non-negative int, got {start!r}")
    return start


def check_owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner:
        raise ValueError(f"lease owner must be a non-empty string, got {owner!r}")
    return owner
