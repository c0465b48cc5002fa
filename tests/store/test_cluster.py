"""RedisStore on a 3-primary Redis Cluster: one slot per job, a primary lost."""

from __future__ import annotations

import time

import pytest

from hivemesh.gateway.store.redis_store import RedisStore

from .topology import client, cluster_setup, wait_for

redis = pytest.importorskip("redis")


def _owner(setup, key: str) -> int:
    """Port of the primary that serves ``key``'s slot, asked of a live node."""
    ask = client(next(n.port for n in setup.nodes if n.process.poll() is None))
    slot = ask.execute_command("CLUSTER", "KEYSLOT", key)
    for start, end, primary, *_ in ask.execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return int(primary[1])
    raise AssertionError(f"slot {slot} not served")


def test_a_jobs_keys_share_a_slot_and_jobs_spread(cluster_topology) -> None:
    store = RedisStore.from_url(cluster_topology.url(min_replicas=1), "spread:")
    homes = set()
    for i in range(24):
        job = f"job-{i}"
        assert store.create_job_if_absent(job, b"x")
        store.put_subtask(job, "s", b"y")
        store.append_event(job, b"z")
        assert store.acquire_lease(job, "A", ttl_s=30)
        keys = [store.keys.job(job), store.keys.subtasks(job), store.keys.events(job),
                store.keys.marks(job), store.keys.lease(job)]
        slots = {client(cluster_topology.nodes[0].port).execute_command("CLUSTER", "KEYSLOT", k)
                 for k in keys}
        assert len(slots) == 1
        homes.add(_owner(cluster_topology, keys[0]))
    assert homes == {p.port for p in cluster_topology.primaries}  # the work is spread
    assert store.list_active_jobs() == sorted(f"job-{i}" for i in range(24))
    store.close()


def test_the_store_survives_a_primary_lost_and_its_replica_promoted() -> None:
    with cluster_setup() as setup:
        store = RedisStore.from_url(setup.url(min_replicas=1), "lost:")
        jobs = [f"j{i}" for i in range(12)]
        for job in jobs:
            assert store.create_job_if_absent(job, job.encode())
            assert store.acquire_lease(job, "gw-A", ttl_s=10)
            assert store.append_event(job, b"e0") == 0
        victim_port = _owner(setup, store.keys.job("j0"))
        victim = setup.node(victim_port)
        victim_jobs = [j for j in jobs if _owner(setup, store.keys.job(j)) == victim_port]
        victim.kill()
        started = time.monotonic()
        assert store.append_event("j0", b"e1") == 1  # waits for the replica to take over
        took = time.monotonic() - started
        assert took < 12
        new_owner = _owner(setup, store.keys.job("j0"))
        assert new_owner != victim_port
        assert client(new_owner).info("replication")["role"] == "master"
        for job in jobs:  # nothing lost, on the lost primary's slots or elsewhere
            assert store.get_job(job) == job.encode()
            assert store.renew_lease(job, "gw-A", ttl_s=10)
        assert store.events("j0") == [b"e0", b"e1"]
        assert all(store.events(j) == [b"e0"] for j in victim_jobs if j != "j0")
        assert store.list_active_jobs() == sorted(jobs)
        live = [n for n in setup.nodes if n is not victim]
        wait_for(lambda: setup.state_ok(live), 10, "cluster_state:ok")
        store.close()
