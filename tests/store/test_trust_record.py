"""The shared trust record's store calls (memory, Redis, Sentinel, Cluster alike):
a compare-and-swap per peer, so gateways writing one peer's record at once
never lose an outcome."""

from __future__ import annotations

import threading

from hivemesh.gateway.store import JobStore
from hivemesh.gateway.trust import PeerRecord, TrustSettings, apply
from hivemesh.mesh import wire

from .conftest import Harness


def test_swap_writes_only_over_the_value_read(store: JobStore) -> None:
    assert store.trust_records() == {} and store.trust_record("p") is None
    assert store.swap_trust_record("p", None, b"one")
    assert not store.swap_trust_record("p", None, b"again")  # it exists now
    assert not store.swap_trust_record("p", b"stale", b"two")
    assert store.swap_trust_record("p", b"one", b"two")
    assert store.swap_trust_record("q", None, bytes(range(256)))
    assert store.trust_records() == {"p": b"two", "q": bytes(range(256))}
    assert store.trust_record("p") == b"two"


def test_gateways_writing_one_record_at_once_lose_no_outcome(harness: Harness) -> None:
    """Four gateways (two store clients each thread-shared) add 25 passes each to one peer's record."""
    stores = [harness.open() for _ in range(2)]
    settings = TrustSettings()
    barrier = threading.Barrier(4)
    lost_races = [0] * 4

    def gateway(i: int) -> None:
        store = stores[i % 2]
        barrier.wait()
        for _ in range(25):
            while True:
                old = store.trust_record("worker")
                record = wire.decode(PeerRecord, old) if old is not None else PeerRecord()
                if store.swap_trust_record("worker", old, wire.encode(apply(record, "passed", settings))):
                    break
                lost_races[i] += 1

    threads = [threading.Thread(target=gateway, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    record = wire.decode(PeerRecord, stores[0].trust_record("worker"))
    assert record.passed == record.streak == 100


def test_trust_records_are_per_prefix(harness: Harness) -> None:
    mine, theirs = harness.open(), harness.open(prefix=harness.prefix + "other:")
    assert mine.swap_trust_record("p", None, b"mine")
    assert theirs.trust_records() == {}
