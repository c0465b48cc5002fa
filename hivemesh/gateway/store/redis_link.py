"""The store's connection to Redis: one Redis, a Sentinel-managed primary, or a Cluster.

The only module besides ``redis_store`` that imports ``redis``. ``RedisLink.run``
runs one store call and, on Sentinel and Cluster, keeps retrying it while
the primary is replaced (up to ``failover_s``): the caller makes every write
idempotent or guarded, so a retried call that had already been applied does
no harm. Errors leave as ``StoreUnavailable`` (cannot reach it) or
``StoreError`` (anything else), with the URL's passwords redacted.
``RedisLink.durable`` sends writes and a ``WAIT`` for ``min_replicas``
replicas on one connection to the primary of the key's slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis import exceptions as rx
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from hivemesh.errors import ConfigError, StoreError, StoreUnavailable

from .redis_url import RedisTarget

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_SLEEP_S = (0.05, 0.1, 0.2, 0.4, 0.5)  # then 0.5 s until failover_s is spent
SHORT_WAIT_PAUSE_S = 5.0  # after a WAIT came up short, writes go without one this long
_NOT_TRANSIENT = (rx.AuthenticationError, rx.AuthorizationError)
_TRANSIENT = (rx.ConnectionError, rx.TimeoutError, rx.ClusterDownError, rx.TryAgainError,
              rx.ReadOnlyError, rx.AskError, rx.SlotNotCoveredError, rx.ClusterError)


def connect(target: RedisTarget, connect_timeout_s: float, timeout_s: float) -> Any:
    """A redis-py client for the target; nothing is dialled until first use."""
    timeouts = {"socket_connect_timeout": connect_timeout_s, "socket_timeout": timeout_s}
    auth = {"username": target.username, "password": target.password}
    if target.mode == "single":
        retry = Retry(ExponentialBackoff(cap=0.25, base=0.02), 2)
        try:
            return redis.Redis.from_url(target.url, retry=retry, health_check_interval=30, **timeouts)
        except ValueError as exc:
            raise ConfigError(f"bad redis URL {target.shown!r}: {exc}") from None
    retry = Retry(ExponentialBackoff(cap=0.1, base=0.02), 1)
    tls = {"ssl": True} if target.tls else {}
    if target.mode == "sentinel":
        from redis.sentinel import Sentinel

        sentinel = Sentinel(list(target.hosts), sentinel_kwargs={  # each sentinel asked once a try
            "username": target.sentinel_username, "password": target.sentinel_password,
            "retry": Retry(NoBackoff(), 0), **timeouts, **tls}, retry=retry, **timeouts, **tls)
        return sentinel.master_for(target.service, db=target.db, **auth)
    from redis.cluster import ClusterNode, RedisCluster

    return _LazyCluster(lambda: RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in target.hosts], retry=retry,
        **auth, **timeouts, **tls))


class _LazyCluster:
    """``RedisCluster`` dials its nodes when built; build it on first use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build, self._client, self._lock = build, None, threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()


class RedisLink:
    """One store's client, with failover-aware retries and durable writes."""

    def __init__(self, target: RedisTarget, *, connect_timeout_s: float = 2.0,
                 timeout_s: float = 5.0) -> None:
        self.target = target
        self._client = connect(target, connect_timeout_s, timeout_s)
        self._closed = False
        self.short_waits = 0  # durable writes fewer than min_replicas acknowledged in time
        self._no_wait_until = 0.0  # replicas missing (say, after a failover): don't wait for them
        self.scripts: dict[str, str] = {}  # sha1 -> Lua body, loaded again where a node lacks it

    @property
    def shown(self) -> str:
        return self.target.shown

    def client(self) -> Any:
        return self._client.get() if isinstance(self._client, _LazyCluster) else self._client

    def run(self, op: str, fn: Callable[[Any], T], key: str | None = None) -> T:
        """``fn(client)``, retried through a failover; errors in the hivemesh tree.

        With ``key`` on a Cluster, ``client`` is a plain client of the primary
        serving ``key``'s slot (redis-py's per-command cluster routing costs
        more than the call); a MOVED reply refreshes the slot map and retries."""
        deadline = time.monotonic() + self.target.failover_s
        attempt = loads = 0
        while True:
            if self._closed:
                raise StoreError(f"redis store {self.shown} is closed")
            try:
                return fn(self._for(key))
            except rx.NoScriptError as exc:  # a fresh or promoted node: load the scripts, go again
                if loads >= 3:
                    raise StoreError(f"redis at {self.shown} failed {op}: {_brief(exc)}") from exc
                self._load_scripts()
                loads += 1
                continue
            except _NOT_TRANSIENT as exc:
                raise self._unavailable(op, exc) from exc
            except (*_TRANSIENT, rx.RedisClusterException) as exc:
                if time.monotonic() >= deadline or self._closed:
                    raise self._unavailable(op, exc) from exc
                if attempt == 0:
                    log.warning("redis %s failed during %s (%s); retrying for up to %.0f s",
                                self.shown, op, _brief(exc), self.target.failover_s)
                self._recover()
                time.sleep(RETRY_SLEEP_S[min(attempt, len(RETRY_SLEEP_S) - 1)])
                attempt += 1
            except rx.RedisError as exc:
                raise StoreError(f"redis at {self.shown} failed {op}: {_brief(exc)}") from exc

    def durable(self, op: str, key: str, queue: Callable[[Any], None]) -> list[Any]:
        """Queue writes on a pipeline to ``key``'s primary, then ``WAIT`` for
        ``min_replicas`` replicas (at most ``wait_ms``); the writes' replies.
        When a WAIT comes up short (no replica since a failover, a replica
        far behind), the next ``SHORT_WAIT_PAUSE_S`` of writes do not wait:
        one slow write per pause, not every write slowed by ``wait_ms``."""
        def send(node: Any) -> list[Any]:  # one connection: WAIT counts its writes
            need = self.target.min_replicas if time.monotonic() >= self._no_wait_until else 0
            pipe = node.pipeline(transaction=False)
            queue(pipe)
            if need:
                pipe.execute_command("WAIT", need, self.target.wait_ms)
            replies = pipe.execute()
            if need:
                acked = int(replies.pop())
                if acked < need:
                    self.short_waits += 1
                    self._no_wait_until = time.monotonic() + SHORT_WAIT_PAUSE_S
                    log.warning("redis %s: %s reached %d of %d replicas in %d ms; the write stands but a "
                                "failover now could lose it; not waiting for replicas for %.0f s",
                                self.shown, op, acked, need, self.target.wait_ms, SHORT_WAIT_PAUSE_S)
            return replies

        return self.run(op, send, key)

    def _for(self, key: str | None) -> Any:
        client = self.client()
        if key is None or self.target.mode != "cluster":
            return client
        return client.get_redis_connection(client.get_node_from_key(key))

    def _load_scripts(self) -> None:
        try:
            for body in self.scripts.values():
                self.client().script_load(body)  # on a cluster: every primary
        except (rx.RedisError, rx.RedisClusterException) as exc:  # the retry will tell
            log.debug("redis %s: scripts not loaded: %s", self.shown, exc)

    def _recover(self) -> None:
        """After a transient error: a cluster re-reads its slot map (best effort)."""
        if self.target.mode != "cluster":
            return
        try:
            self.client().nodes_manager.initialize()
        except (rx.RedisError, rx.RedisClusterException) as exc:
            log.debug("cluster %s slot map not refreshed yet: %s", self.shown, exc)

    def _unavailable(self, op: str, exc: BaseException) -> StoreUnavailable:
        hint = ""
        if type(exc).__name__ == "MasterNotFoundError":
            hint = f" (no sentinel named a live primary for {self.target.service!r}: check the sentinels, " \
                   "the service name and sentinel_password)"
        return StoreUnavailable(f"redis at {self.shown} unavailable during {op}: {_brief(exc)}{hint}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        except (rx.RedisError, rx.RedisClusterException) as exc:  # closing a dead link is not news
            log.debug("redis close url=%s error=%s", self.shown, exc)


def _brief(exc: BaseException) -> str:
    """redis-py's message without the client reprs it sometimes appends."""
    return str(exc).split(" : <redis.", 1)[0][:300]
