"""Fixtures for the job store tests: one harness per backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from hivemesh.gateway.store import JobStore, MemoryBackend, MemoryStore
from tests.redis_server import redis_server, redis_server_url  # noqa: F401 (fixtures)

from .topology import ClusterSetup, SentinelSetup, cluster_setup, sentinel_setup


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """A store under test plus ways to open peers of it and let time pass."""

    kind: str
    make: Callable[..., JobStore]  # make(prefix=..., finished_ttl_s=...)
    elapse: Callable[[float], None]
    prefix: str
    opened: list[JobStore] = field(default_factory=list)

    def open(self, prefix: str | None = None, **kwargs: float) -> JobStore:
        """Another client of the same backing store (another gateway)."""
        store = self.make(prefix=prefix or self.prefix, **kwargs)
        self.opened.append(store)
        return store

    @property
    def store(self) -> JobStore:
        if not self.opened:
            self.open()
        return self.opened[0]


def _memory_harness() -> Harness:
    clock = FakeClock()
    backend = MemoryBackend(clock)

    def make(prefix: str, **kwargs: float) -> JobStore:
        return MemoryStore(prefix, backend=backend, **kwargs)

    return Harness("memory", make, clock.advance, prefix="hivemesh:")


def _redis_harness(url: str) -> Harness:
    from hivemesh.gateway.store.redis_store import RedisStore

    def make(prefix: str, **kwargs: float) -> JobStore:
        return RedisStore.from_url(url, prefix, **kwargs)

    return Harness("redis", make, time.sleep, prefix=f"test-{uuid.uuid4().hex[:8]}:")


@pytest.fixture(scope="session")
def sentinel_topology() -> Iterator[SentinelSetup]:
    """A primary, a replica and three sentinels for the session (tests do not kill them)."""
    with sentinel_setup() as setup:
        yield setup


@pytest.fixture(scope="session")
def cluster_topology() -> Iterator[ClusterSetup]:
    """Three primaries with a replica each for the session (tests do not kill them)."""
    with cluster_setup() as setup:
        yield setup


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        h = _memory_harness()
    elif request.param == "redis":
        h = _redis_harness(request.getfixturevalue("redis_server_url"))
    else:  # durable writes on: the replica must acknowledge them
        topology = request.getfixturevalue(f"{request.param}_topology")
        h = _redis_harness(topology.url(min_replicas=1))
        h.kind = request.param
    yield h
    for store in h.opened:
        store.close()
    short = [s.link.short_waits for s in h.opened if hasattr(s, "link")]
    assert not any(short), f"durable writes not acknowledged by a replica in time: {short}"


@pytest.fixture
def store(harness: Harness) -> JobStore:
    return harness.store
