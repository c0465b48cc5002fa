"""Parsing --redis URLs (pure): one Redis, Sentinel, Cluster, options, secrets."""

from __future__ import annotations

import pytest

from hivemesh.errors import ConfigError
from hivemesh.gateway.store.keys import Keys, hash_tag
from hivemesh.gateway.store.redis_url import parse_redis_url


def test_sentinel_url_with_both_passwords() -> None:
    t = parse_redis_url("redis+sentinel://app:p%40ss@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/2"
                        "?sentinel_password=s%20pw&min_replicas=1&wait_ms=250")
    assert t.mode == "sentinel" and t.service == "mymaster" and t.db == 2
    assert t.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (t.username, t.password, t.sentinel_password) == ("app", "p@ss", "s pw")
    assert (t.min_replicas, t.wait_ms, t.failover_s, t.tls) == (1, 250, 15.0, False)
    assert "p@ss" not in t.shown and "s pw" not in t.shown and "s%20pw" not in t.shown
    assert "sentinel_password=***" in t.shown and "app:***@" in t.shown


def test_tls_variants_and_defaults() -> None:
    s = parse_redis_url("rediss+sentinel://h1:1,h2:2/svc")
    assert s.tls and s.db == 0 and s.password is None and s.min_replicas == 0
    c = parse_redis_url("rediss+cluster://:pw@h1:7000,h2:7001?failover_s=5")
    assert c.mode == "cluster" and c.tls and c.password == "pw" and c.failover_s == 5.0
    assert c.hosts == (("h1", 7000), ("h2", 7001))
    assert parse_redis_url("redis+cluster://h1").hosts == (("h1", 6379),)


def test_single_url_keeps_redis_options_and_drops_ours() -> None:
    t = parse_redis_url("redis://:pw@127.0.0.1:6379/3?min_replicas=2&health_check_interval=5")
    assert t.mode == "single" and t.min_replicas == 2 and t.failover_s == 0.0
    assert t.url == "redis://:pw@127.0.0.1:6379/3?health_check_interval=5"
    assert parse_redis_url("unix:///tmp/r.sock?db=1").url == "unix:///tmp/r.sock?db=1"


@pytest.mark.parametrize("url", [
    "redis+sentinel://h:1",                    # no service
    "redis+sentinel://h:1/svc/0/extra",
    "redis+sentinel://h:1/svc/x",              # db not a number
    "redis+sentinel://h:1/svc?db=1",           # unknown option
    "redis+sentinel://h:99999/svc",
    "redis+cluster://h:1/2",                   # a cluster has db 0 only
    "redis+cluster://,h:1",
    "redis+cluster://h:1?min_replicas=-1",
    "redis://h?wait_ms=0",
    "redis+cluster://h:1?failover_s=1e9",
    "http://h:1",
])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_redis_url(url)


def test_bad_url_error_does_not_show_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_redis_url("redis+sentinel://:hunter2@h:notaport/svc?sentinel_password=hunter3")
    assert "hunter2" not in str(info.value) and "hunter3" not in str(info.value)


def test_every_key_of_a_job_hashes_to_the_job() -> None:
    keys = Keys("hm:")
    tags = {hash_tag(k) for k in (*keys.job_keys_expiring_when_done("j-1"), keys.lease("j-1"))}
    assert tags == {"job:j-1"}
    assert hash_tag(keys.job("j-2")) != hash_tag(keys.job("j-1"))
    assert hash_tag(keys.active_jobs()) == keys.active_jobs()  # not a job's: no tag
    with pytest.raises(ValueError):
        Keys("a{b}:")
    with pytest.raises(ValueError):
        keys.job("a}b")


def test_settings_reject_a_bad_redis_url_at_start() -> None:
    from hivemesh import config

    with pytest.raises(ConfigError, match="SERVICE"):
        config.load({"redis": "redis+sentinel://h:26379"}, env={})
    assert config.load({"redis": "redis+cluster://a:1,b:2?min_replicas=1"}, env={}).redis
