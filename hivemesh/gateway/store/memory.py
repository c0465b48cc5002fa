"""In-process job store: the embedded demo's default and the tests' stand-in.

``MemoryBackend`` plays the Redis server: one dict of keys, one lock, one
clock. Several ``MemoryStore`` objects (several gateways in one process, or
two prefixes) can share a backend, as several clients share one Redis.
Expiry follows Redis: lazy on access plus a periodic sweep, and writes that
modify a value keep its TTL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hivemesh.errors import StoreError

from .base import (
    DEFAULT_FINISHED_TTL_S,
    check_bytes,
    check_owner,
    check_start,
    ttl_ms,
)
from .keys import DEFAULT_PREFIX, Keys

log = logging.getLogger(__name__)

Clock = Callable[[], float]
SWEEP_EVERY_WRITES = 1024


@dataclass
class _Entry:
    value: Any  # bytes | str | dict[str, bytes] | list[bytes] | set[str]
    expires_at: float | None = None


class MemoryBackend:
    """The shared key space. Callers hold ``lock`` around multi-step updates."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._data: dict[str, _Entry] = {}
        self._writes = 0

    def get(self, key: str) -> Any | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self.clock():
            del self._data[key]
            return None
        return entry.value

    def set(self, key: str, value: Any, ttl_s: float | None = None, keep_ttl: bool = False) -> None:
        old = self._data.get(key) if keep_ttl and self.get(key) is not None else None
        expires_at = old.expires_at if old is not None else None
        if ttl_s is not None:
            expires_at = self.clock() + ttl_ms(ttl_s) / 1000
        self._data[key] = _Entry(value, expires_at)
        self._count_write()

    def expire(self, key: str, ttl_s: float) -> None:
        if self.get(key) is not None:
            self._data[key].expires_at = self.clock() + ttl_ms(ttl_s) / 1000

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY_WRITES == 0:
            self._sweep_locked()

    def sweep(self) -> int:
        """Drop every expired key now; return how many went."""
        with self.lock:
            return self._sweep_locked()

    def _sweep_locked(self) -> int:
        now = self.clock()
        dead = [k for k, e in self._data.items()
                if e.expires_at is not None and e.expires_at <= now]
        for key in dead:
            del self._data[key]
        return len(dead)


class MemoryStore:
    """A ``JobStore`` over a ``MemoryBackend`` (a private one by default)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, *, backend: MemoryBackend | None = None,
                 clock: Clock | None = None,
                 finished_ttl_s: float = DEFAULT_FINISHED_TTL_S) -> None:
        if backend is not None and clock is not None:
            raise ValueError("pass a clock or a backend (which has its clock), not both")
        ttl_ms(finished_ttl_s)
        self.backend = backend if backend is not None else MemoryBackend(clock or time.monotonic)
        self.keys = Keys(prefix)
        self.finished_ttl_s = finished_ttl_s
        self._closed = False

    @contextmanager
    def _locked(self) -> Iterator[MemoryBackend]:
        if self._closed:
            raise StoreError("memory store is closed")
        with self.backend.lock:
            yield self.backend

    # job records
    def create_job_if_absent(self, job_id: str, data: bytes) -> bool:
        data = check_bytes(data)
        with self._locked() as b:
            key = self.keys.job(job_id)
            if b.get(key) is not None:
                return False
            b.set(key, data)
            self._active(b).add(job_id)
        log.debug("job created job=%s", job_id)
        return True

    def put_job(self, job_id: str, data: bytes) -> None:
        data = check_bytes(data)
        with self._locked() as b:
            b.set(self.keys.job(job_id), data, keep_ttl=True)

    def get_job(self, job_id: str) -> bytes | None:
        with self._locked() as b:
            return b.get(self.keys.job(job_id))

    def list_active_jobs(self) -> list[str]:
        with self._locked() as b:
            return sorted(b.get(self.keys.active_jobs()) or ())

    def mark_job_done(self, job_id: str) -> None:
        with self._locked() as b:
            self._active(b).discard(job_id)
            for key in self.keys.job_keys_expiring_when_done(job_id):
                b.expire(key, self.finished_ttl_s)
        log.debug("job done job=%s ttl_s=%s", job_id, self.finished_ttl_s)

    def _active(self, b: MemoryBackend) -> set[str]:
        key = self.keys.active_jobs()
        active = b.get(key)
        if active is None:
            active = set()
            b.set(key, active)
        return active

    # per-subtask state
    def put_subtask(self, job_id: str, subtask_id: str, data: bytes) -> None:
        data = check_bytes(data)
        with self._locked() as b:
            key = self.keys.subtasks(job_id)
            table = b.get(key)
            if table is None:
                table = {}
                b.set(key, table)
            table[subtask_id] = data

    def get_subtasks(self, job_id: str) -> dict[str, bytes]:
        with self._locked() as b:
            return dict(b.get(self.keys.subtasks(job_id)) or {})

    # leases
    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        check_owner(owner)
        ttl_ms(ttl_s)
        with self._locked() as b:
            key = self.keys.lease(job_id)
            if b.get(key) not in (None, owner):
                return False
            b.set(key, owner, ttl_s=ttl_s)
            return True

    def renew_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        check_owner(owner)
        ttl_ms(ttl_s)
        with self._locked() as b:
            key = self.keys.lease(job_id)
            if b.get(key) != owner:
                return False
            b.expire(key, ttl_s)
            return True

    def release_lease(self, job_id: str, owner: str) -> None:
        check_owner(owner)
        with self._locked() as b:
            key = self.keys.lease(job_id)
            if b.get(key) == owner:
                b.delete(key)

    def lease_owner(self, job_id: str) -> str | None:
        with self._locked() as b:
            return b.get(self.keys.lease(job_id))

    # caches
    def get_plan(self, key: str) -> bytes | None:
        with self._locked() as b:
            return b.get(self.keys.plan(key))

    def put_plan(self, key: str, data: bytes, ttl_s: float) -> None:
        data = check_bytes(data)
        with self._locked() as b:
            b.set(self.keys.plan(key), data, ttl_s=ttl_s)

    def get_output(self, key: str) -> bytes | None:
        with self._locked() as b:
            return b.get(self.keys.output(key))

    def put_output(self, key: str, data: bytes, ttl_s: float) -> None:
        data = check_bytes(data)
        with self._locked() as b:
            b.set(self.keys.output(key), data, ttl_s=ttl_s)

    # progress events
    def append_event(self, job_id: str, data: bytes) -> int:
        data = check_bytes(data)
        with self._locked() as b:
            key = self.keys.events(job_id)
            items = b.get(key)
            if items is None:
                items = []
                b.set(key, items)
            items.append(data)
            return len(items) - 1

    def events(self, job_id: str, start: int = 0) -> list[bytes]:
        check_start(start)
        with self._locked() as b:
            return list((b.get(self.keys.events(job_id)) or [])[start:])

    def write_step(self, job_id: str, subtasks: Sequence[tuple[str, bytes]], events: Sequence[bytes]) -> list[int]:
        for sid, data in subtasks:
            self.put_subtask(job_id, sid, data)
        return [self.append_event(job_id, data) for data in events]

    # shared trust record
    def trust_records(self) -> dict[str, bytes]:
        with self._locked() as b:
            return dict(b.get(self.keys.trust()) or {})

    def trust_record(self, peer_id: str) -> bytes | None:
        with self._locked() as b:
            return (b.get(self.keys.trust()) or {}).get(peer_id)

    def swap_trust_record(self, peer_id: str, old: bytes | None, new: bytes) -> bool:
        new = check_bytes(new)
        with self._locked() as b:
            key = self.keys.trust()
            table = b.get(key)
            if table is None:
                table = {}
                b.set(key, table)
            if table.get(peer_id) != old:
                return False
            table[peer_id] = new
            return True

    def ping(self) -> None:
        with self._locked():
            pass

    def close(self) -> None:
        self._closed = True
