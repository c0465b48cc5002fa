"""RedisStore on Sentinel: durable writes, a kill -9 failover, retried writes applied once."""

from __future__ import annotations

import threading
import time

import pytest

from hivemesh.gateway.store.redis_store import RedisStore

from .topology import client, sentinel_setup, wait_for

redis = pytest.importorskip("redis")


def _lagging(port: int, seconds: float) -> threading.Thread:
    """The replica stops processing (replication included) for ``seconds``."""
    thread = threading.Thread(target=lambda: client(port).execute_command("DEBUG", "SLEEP", seconds))
    thread.start()
    time.sleep(0.05)
    return thread


def test_durable_writes_wait_for_the_replica(sentinel_topology) -> None:
    replica = client(sentinel_topology.replica.port)
    durable = RedisStore.from_url(sentinel_topology.url(min_replicas=1, wait_ms=3000), "dur:")
    plain = RedisStore.from_url(sentinel_topology.url(), "plain:")
    durable.ping(), plain.ping()

    lag = _lagging(sentinel_topology.replica.port, 0.5)
    started = time.monotonic()
    assert plain.create_job_if_absent("j", b"job")
    assert time.monotonic() - started < 0.3  # min_replicas=0: the primary's word is enough
    lag.join()

    lag = _lagging(sentinel_topology.replica.port, 0.5)
    started = time.monotonic()
    assert durable.create_job_if_absent("j", b"job")
    assert durable.append_event("j", b"accepted") == 0
    took = time.monotonic() - started
    lag.join()
    assert 0.3 < took < 2.5  # held until the replica woke up and had it
    assert replica.get(durable.keys.job("j")) == b"job"
    assert replica.lrange(durable.keys.events("j"), 0, -1) == [b"accepted"]
    assert durable.link.short_waits == 0
    durable.close(), plain.close()


def test_a_replica_too_slow_is_waited_for_only_wait_ms(sentinel_topology, caplog) -> None:
    store = RedisStore.from_url(sentinel_topology.url(min_replicas=1, wait_ms=200), "slow:")
    store.ping()
    lag = _lagging(sentinel_topology.replica.port, 1.0)
    started = time.monotonic()
    assert store.append_event("j", b"e") == 0  # the write stands
    took = time.monotonic() - started
    lag.join()
    assert 0.15 < took < 0.8
    assert store.link.short_waits == 1
    assert "reached 0 of 1 replicas" in caplog.text
    store.close()


class _LoseFirstReply:
    """A client whose first pipeline reply is lost after the server applied it."""

    def __init__(self, real) -> None:
        self.real, self.lost = real, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def pipeline(self, *args, **kwargs):
        pipe = self.real.pipeline(*args, **kwargs)
        execute = pipe.execute

        def lossy(*a, **kw):
            replies = execute(*a, **kw)
            if self.lost == 0:
                self.lost += 1
                raise redis.ConnectionError("reply lost")
            return replies

        pipe.execute = lossy
        return pipe


@pytest.mark.parametrize("op", ["create", "append"])
def test_a_retried_write_is_applied_once(sentinel_topology, op) -> None:
    store = RedisStore.from_url(sentinel_topology.url(), f"retry-{op}:")
    store.create_job_if_absent("other", b"x")  # connected, scripts loaded
    lossy = _LoseFirstReply(store.link.client())
    store.link.client = lambda: lossy
    if op == "create":
        assert store.create_job_if_absent("j", b"job")  # not "exists": it was this call
        assert store.list_active_jobs() == ["j", "other"]
    else:
        assert store.append_event("j", b"e0") == 0
        assert store.append_event("j", b"e1") == 1
        assert store.events("j") == [b"e0", b"e1"]
    assert lossy.lost == 1
    store.close()


def test_the_store_follows_a_kill_9_failover() -> None:
    with sentinel_setup() as setup:
        store = RedisStore.from_url(setup.url(min_replicas=1), "fo:")
        assert store.create_job_if_absent("j", b"job")
        assert store.acquire_lease("j", "gw-A", ttl_s=8)
        assert [store.append_event("j", f"e{i}".encode()) for i in range(3)] == [0, 1, 2]
        old = setup.primary.port
        setup.primary.kill()
        started = time.monotonic()
        assert store.append_event("j", b"e3") == 3  # waits out the failover
        took = time.monotonic() - started
        assert setup.primary_port() == setup.replica.port != old
        assert took < 10
        assert store.renew_lease("j", "gw-A", ttl_s=8)  # the lease survived
        assert not store.acquire_lease("j", "gw-B", ttl_s=8)
        assert store.events("j") == [b"e0", b"e1", b"e2", b"e3"]
        assert store.get_job("j") == b"job" and store.list_active_jobs() == ["j"]
        wait_for(lambda: client(setup.replica.port).info("replication")["role"] == "master", 5, "promotion")
        store.close()


def test_passwords_for_redis_and_for_the_sentinels() -> None:
    from hivemesh.errors import StoreUnavailable

    secret = "s3cr3t pw/@:"
    with sentinel_setup(password=secret) as setup:
        url = setup.url(min_replicas=1)
        assert "sentinel_password=" in url
        store = RedisStore.from_url(url, "pw:")
        assert store.create_job_if_absent("j", b"x") and store.get_job("j") == b"x"
        assert secret not in store.display_url
        store.close()
        wrong = RedisStore.from_url(url.replace("sentinel_password=", "sentinel_password=nope")
                                    + "&failover_s=1", "pw:")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            wrong.ping()
        assert time.monotonic() - started < 5
        assert "sentinel_password" in str(info.value)  # the hint names what to check
        assert secret not in str(info.value) and "nope" not in str(info.value)
        wrong.close()
