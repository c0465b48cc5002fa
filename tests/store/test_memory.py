"""MemoryStore specifics: the fake clock, shared backends, sweeping."""

from __future__ import annotations

import pytest

from hivemesh.gateway.store import MemoryBackend, MemoryStore, open_store

from .conftest import FakeClock


def test_fake_clock_drives_expiry_exactly() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock, finished_ttl_s=24 * 3600)
    store.create_job_if_absent("j", b"x")
    store.mark_job_done("j")
    clock.advance(24 * 3600 - 1)
    assert store.get_job("j") == b"x"
    clock.advance(1)
    assert store.get_job("j") is None


def test_default_finished_ttl_is_a_day() -> None:
    assert MemoryStore().finished_ttl_s == 24 * 3600


def test_sweep_drops_expired_keys_nobody_reads() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock)
    store = MemoryStore(backend=backend)
    for i in range(10):
        store.put_output(f"k{i}", b"x", ttl_s=1)
    store.put_output("keep", b"x", ttl_s=100)
    clock.advance(2)
    assert backend.sweep() == 10
    assert store.get_output("keep") == b"x"


def test_private_stores_do_not_share() -> None:
    assert MemoryStore().create_job_if_absent("j", b"x")
    assert MemoryStore().get_job("j") is None


def test_clock_belongs_to_the_backend() -> None:
    with pytest.raises(ValueError):
        MemoryStore(backend=MemoryBackend(), clock=FakeClock())


def test_open_store_defaults_to_memory() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)
