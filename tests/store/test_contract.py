"""One contract, run against MemoryStore and RedisStore alike."""

from __future__ import annotations

import threading

import msgpack
import pytest

from hivemesh.errors import StoreError
from hivemesh.gateway.store import JobStore

from .conftest import Harness

BLOB = bytes(range(256))  # not UTF-8: values are raw bytes end to end


def test_is_a_job_store(store: JobStore) -> None:
    assert isinstance(store, JobStore)
    store.ping()


def test_job_round_trip_and_idempotent_create(store: JobStore) -> None:
    record = msgpack.packb({"text": "summarise", "state": "planning"})
    assert store.get_job("j1") is None
    assert store.create_job_if_absent("j1", record) is True
    assert store.create_job_if_absent("j1", b"second submit") is False
    assert msgpack.unpackb(store.get_job("j1")) == {"text": "summarise", "state": "planning"}
    store.put_job("j1", BLOB)
    assert store.get_job("j1") == BLOB


def test_active_jobs_until_done(store: JobStore) -> None:
    for job_id in ("b", "a", "c"):
        store.create_job_if_absent(job_id, b"x")
    assert store.list_active_jobs() == ["a", "b", "c"]
    store.mark_job_done("b")
    assert store.list_active_jobs() == ["a", "c"]
    assert store.get_job("b") == b"x"  # kept until its TTL runs out
    store.mark_job_done("unknown")  # harmless


def test_put_job_alone_does_not_activate(store: JobStore) -> None:
    store.put_job("j", b"x")
    assert store.list_active_jobs() == []


def test_subtasks_are_a_table_per_job(store: JobStore) -> None:
    assert store.get_subtasks("j") == {}
    store.put_subtask("j", "s1", b"pending")
    store.put_subtask("j", "s2", BLOB)
    store.put_subtask("j", "s1", b"done")
    store.put_subtask("other", "s1", b"elsewhere")
    assert store.get_subtasks("j") == {"s1": b"done", "s2": BLOB}


def test_events_replay_from_an_index(harness: Harness) -> None:
    store = harness.store
    assert store.events("j") == []
    assert [store.append_event("j", f"e{i}".encode()) for i in range(4)] == [0, 1, 2, 3]
    new_gateway = harness.open()
    assert new_gateway.events("j") == [b"e0", b"e1", b"e2", b"e3"]
    assert new_gateway.events("j", 2) == [b"e2", b"e3"]
    assert new_gateway.events("j", 10) == []
    with pytest.raises(ValueError):
        new_gateway.events("j", -1)


def test_a_step_writes_records_then_events_in_order(harness: Harness) -> None:
    store = harness.store
    store.append_event("j", b"accepted")
    assert store.write_step("j", [("s1", b"running"), ("s2", BLOB)], [b"started s1", b"started s2"]) == [1, 2]
    assert store.write_step("j", [("s1", b"done")], []) == []
    assert store.write_step("j", [], [b"finished s1"]) == [3]
    assert store.write_step("j", [], []) == []
    resumer = harness.open()  # what a gateway resuming the job reads
    assert resumer.get_subtasks("j") == {"s1": b"done", "s2": BLOB}
    assert resumer.events("j") == [b"accepted", b"started s1", b"started s2", b"finished s1"]


def test_caches_round_trip(store: JobStore) -> None:
    assert store.get_plan("k") is None and store.get_output("k") is None
    store.put_plan("k", b"plan", ttl_s=60)
    store.put_output("k", b"output", ttl_s=60)
    assert store.get_plan("k") == b"plan"
    assert store.get_output("k") == b"output"  # same key, separate namespaces


def test_cache_entries_expire(harness: Harness) -> None:
    store = harness.store
    store.put_plan("p", b"plan", ttl_s=0.2)
    store.put_output("o", b"out", ttl_s=0.2)
    store.put_output("long", b"out", ttl_s=30)
    assert store.get_plan("p") == b"plan"
    harness.elapse(0.3)
    assert store.get_plan("p") is None
    assert store.get_output("o") is None
    assert store.get_output("long") == b"out"


def test_finished_jobs_expire_with_their_state(harness: Harness) -> None:
    store = harness.open(finished_ttl_s=0.2)
    store.create_job_if_absent("done", b"x")
    store.put_subtask("done", "s", b"y")
    store.append_event("done", b"z")
    store.create_job_if_absent("running", b"x")
    store.mark_job_done("done")
    store.put_job("done", b"final")  # an update keeps the expiry
    harness.elapse(0.3)
    assert store.get_job("done") is None
    assert store.get_subtasks("done") == {}
    assert store.events("done") == []
    assert store.get_job("running") == b"x"  # active jobs never expire


def test_bad_ttl_is_a_caller_error(store: JobStore) -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            store.put_plan("k", b"x", ttl_s=bad)
        with pytest.raises(ValueError):
            store.acquire_lease("j", "gw", ttl_s=bad)


def test_values_must_be_bytes(store: JobStore) -> None:
    with pytest.raises(TypeError):
        store.put_job("j", "text")  # type: ignore[arg-type]


def test_ids_cannot_forge_other_keys(store: JobStore) -> None:
    for bad in ("", "a:subtasks", "has space"):
        with pytest.raises(ValueError):
            store.put_job(bad, b"x")


def test_lease_is_exclusive_between_gateways(harness: Harness) -> None:
    gw_a, gw_b = harness.open(), harness.open()
    assert gw_a.lease_owner("j") is None
    assert gw_a.acquire_lease("j", "A", ttl_s=30)
    assert not gw_b.acquire_lease("j", "B", ttl_s=30)
    assert gw_b.lease_owner("j") == "A"
    assert not gw_b.renew_lease("j", "B", ttl_s=30)
    gw_b.release_lease("j", "B")  # not the owner: no effect
    assert gw_a.lease_owner("j") == "A"
    assert gw_a.acquire_lease("j", "A", ttl_s=30)  # re-entrant for the holder
    assert gw_a.renew_lease("j", "A", ttl_s=30)
    gw_a.release_lease("j", "A")
    assert gw_b.lease_owner("j") is None
    assert gw_b.acquire_lease("j", "B", ttl_s=30)


def test_expired_lease_fails_over(harness: Harness) -> None:
    """A dead gateway's job is picked up by a survivor, state intact."""
    gw_a, gw_b = harness.open(), harness.open()
    gw_a.create_job_if_absent("j", b"job")
    assert gw_a.acquire_lease("j", "A", ttl_s=0.2)
    gw_a.put_subtask("j", "s1", b"done")
    gw_a.append_event("j", b"s1 done")
    assert not gw_b.acquire_lease("j", "B", ttl_s=0.2)
    harness.elapse(0.3)  # A stops renewing
    assert gw_b.lease_owner("j") is None
    assert gw_b.list_active_jobs() == ["j"]
    assert gw_b.acquire_lease("j", "B", ttl_s=30)
    assert gw_b.get_subtasks("j") == {"s1": b"done"}
    assert gw_b.events("j") == [b"s1 done"]
    assert not gw_a.renew_lease("j", "A", ttl_s=30)  # A, back late, has lost it


def test_renew_extends_the_lease(harness: Harness) -> None:
    store = harness.store
    assert store.acquire_lease("j", "A", ttl_s=0.2)
    harness.elapse(0.1)
    assert store.renew_lease("j", "A", ttl_s=0.4)
    harness.elapse(0.2)
    assert store.lease_owner("j") == "A"


def test_concurrent_create_has_one_winner(harness: Harness) -> None:
    stores = [harness.open() for _ in range(2)]
    n = 8
    barrier = threading.Barrier(n)
    results: list[bool] = [False] * n

    def submit(i: int) -> None:
        barrier.wait()
        results[i] = stores[i % 2].create_job_if_absent("same", f"from {i}".encode())

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results.count(True) == 1
    winner = results.index(True)
    assert stores[0].get_job("same") == f"from {winner}".encode()
    assert stores[1].list_active_jobs() == ["same"]


def test_prefixes_are_isolated(harness: Harness) -> None:
    mine, theirs = harness.open(), harness.open(prefix=harness.prefix + "other:")
    mine.create_job_if_absent("j", b"mine")
    mine.put_subtask("j", "s", b"x")
    mine.put_plan("k", b"plan", ttl_s=30)
    mine.acquire_lease("j", "A", ttl_s=30)
    mine.append_event("j", b"e")
    assert theirs.get_job("j") is None
    assert theirs.list_active_jobs() == []
    assert theirs.get_subtasks("j") == {}
    assert theirs.get_plan("k") is None
    assert theirs.lease_owner("j") is None
    assert theirs.events("j") == []
    assert theirs.create_job_if_absent("j", b"theirs")
    assert mine.get_job("j") == b"mine"


def test_closed_store_refuses_work(harness: Harness) -> None:
    store = harness.open()
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get_job("j")
