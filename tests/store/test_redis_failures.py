"""RedisStore at the edges: unreachable, killed, passwords, bad URLs."""

from __future__ import annotations

import tempfile
import time

import pytest

from hivemesh.errors import ConfigError, StoreError, StoreUnavailable
from hivemesh.gateway.store import open_store
from tests.redis_server import free_port, throwaway_redis

redis = pytest.importorskip("redis")
from hivemesh.gateway.store.redis_store import RedisStore  # noqa: E402

PASSWORD = "s3cr3t pw/@:"  # needs percent-encoding in a URL


def _assert_clean(exc: BaseException, *, secret: str | None = None) -> str:
    message = str(exc)
    assert not isinstance(exc, redis.RedisError)
    if secret is not None:
        assert secret not in message
    return message


def test_unreachable_url_is_store_unavailable() -> None:
    port = free_port()
    store = RedisStore.from_url(f"redis://:hunter2@127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.ping()
    assert time.monotonic() - started < 3
    message = _assert_clean(info.value, secret="hunter2")
    assert f"redis://:***@127.0.0.1:{port}/0" in message
    assert "ping" in message
    with pytest.raises(StoreUnavailable):
        store.create_job_if_absent("j", b"x")  # scripts too, not just plain commands
    store.close()


def test_server_killed_mid_run_is_store_unavailable() -> None:
    with throwaway_redis() as server:
        store = RedisStore.from_url(server.url)
        store.create_job_if_absent("j", b"x")
        assert store.acquire_lease("j", "A", ttl_s=30)
        server.kill()
        for call in (lambda: store.get_job("j"), lambda: store.renew_lease("j", "A", 30),
                     lambda: store.mark_job_done("j"), store.ping):
            with pytest.raises(StoreUnavailable) as info:
                call()
            assert str(server.port) in _assert_clean(info.value)
        store.close()


def test_password_in_url() -> None:
    with throwaway_redis(password=PASSWORD) as server:
        assert "%20" in server.url
        store = RedisStore.from_url(server.url, finished_ttl_s=60)
        store.ping()
        assert store.create_job_if_absent("j", b"x")
        assert store.get_job("j") == b"x"
        store.close()

        no_pw = RedisStore.from_url(f"redis://127.0.0.1:{server.port}/0")
        with pytest.raises(StoreUnavailable):
            no_pw.ping()
        wrong = RedisStore.from_url(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
        with pytest.raises(StoreUnavailable) as info:
            wrong.get_job("j")
        _assert_clean(info.value, secret="wrong-pw")


def test_other_server_errors_are_store_errors(redis_server_url: str) -> None:
    store = RedisStore.from_url(redis_server_url, "t:")
    store.put_plan("k", b"x", ttl_s=30)
    # Sabotage a key's type from outside; the store must not leak ResponseError.
    raw = redis.Redis.from_url(redis_server_url)
    raw.delete("t:{job:j}:subtasks")
    raw.set("t:{job:j}:subtasks", b"not a hash")
    with pytest.raises(StoreError) as info:
        store.get_subtasks("j")
    assert not isinstance(info.value, StoreUnavailable)
    _assert_clean(info.value)
    raw.close()
    store.close()


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "localhost:6379", "redis://host:notaport/0"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url).ping()


def test_schemes_and_open_store(redis_server_url: str) -> None:
    tls = RedisStore.from_url("rediss://:pw@example.invalid:6380/1")
    assert tls.display_url == "rediss://:***@example.invalid:6380/1"
    tls.close()
    store = open_store(redis_server_url, "scheme-test:")
    assert isinstance(store, RedisStore)
    store.ping()
    store.close()


def test_unix_socket_url() -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # socket paths are length-limited
        sock = f"{short}/redis.sock"
        with throwaway_redis(extra_args=("--unixsocket", sock)):
            store = open_store(f"unix://{sock}?db=0", "unix-test:")
            assert store.create_job_if_absent("j", b"x")
            store.close()
