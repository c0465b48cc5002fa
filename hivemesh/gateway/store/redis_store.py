"""Job store on Redis: what gateways share so a survivor can resume jobs.

The only module that imports ``redis``. Every redis exception is translated
at the call: connection refused, timeouts, lost connections and auth failures
become ``StoreUnavailable``; other server errors become ``StoreError``. Error
messages name the URL with its password redacted.

Multi-key updates run as Lua scripts or MULTI/EXEC, so they are atomic; the
keys of one call are not hash-tagged, so this targets a single Redis (or a
replicated primary), not Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from hivemesh.errors import ConfigError, StoreError, StoreUnavailable

from .base import DEFAULT_FINISHED_TTL_S, check_bytes, check_owner, check_start, ttl_ms
from .keys import DEFAULT_PREFIX, Keys
from .url import REDIS_SCHEMES, redact_url

log = logging.getLogger(__name__)

# KEYS[1]=job KEYS[2]=active set; ARGV[1]=data ARGV[2]=job id
_CREATE_JOB = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
# KEYS[1]=lease; ARGV[1]=owner ARGV[2]=ttl ms. Re-entrant for the holder.
_ACQUIRE_LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStore:
    """A ``JobStore`` over one ``redis.Redis`` client (thread-safe pool)."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX,
                 finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
                 display_url: str = "redis") -> None:
        ttl_ms(finished_ttl_s)
        self._client = client
        self.keys = Keys(prefix)
        self.finished_ttl_s = finished_ttl_s
        self.display_url = display_url
        self._closed = False
        self._create_job = client.register_script(_CREATE_JOB)
        self._acquire = client.register_script(_ACQUIRE_LEASE)
        self._renew = client.register_script(_RENEW_LEASE)
        self._release = client.register_script(_RELEASE_LEASE)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, *,
                 finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
                 connect_timeout_s: float = 2.0, timeout_s: float = 5.0,
                 retries: int = 2) -> RedisStore:
        """Connect lazily to ``redis://``, ``rediss://`` or ``unix://`` URLs.

        Passwords may be in the URL (``redis://:pw@host:6379/0``). A failed
        command is retried ``retries`` times with a short backoff, then raises
        ``StoreUnavailable``. Call ``ping()`` to check the server up front.
        """
        shown = redact_url(url)
        scheme = urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in REDIS_SCHEMES:
            raise ConfigError(f"not a redis URL: {shown!r} (use redis://, rediss:// or unix://)")
        retry = Retry(ExponentialBackoff(cap=0.25, base=0.02), retries)
        try:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s,
                retry=retry, health_check_interval=30)
        except ValueError as exc:
            raise ConfigError(f"bad redis URL {shown!r}: {exc}") from None
        log.info("redis store url=%s prefix=%s", shown, prefix)
        return cls(client, prefix=prefix, finished_ttl_s=finished_ttl_s, display_url=shown)

    @contextmanager
    def _call(self, op: str) -> Iterator[redis.Redis]:
        """Run one operation, translating redis errors into the hivemesh tree."""
        if self._closed:
            raise StoreError(f"redis store {self.display_url} is closed")
        try:
            yield self._client
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"redis at {self.display_url} unavailable during {op}: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreError(f"redis at {self.display_url} failed {op}: {exc}") from exc

    # job records
    def create_job_if_absent(self, job_id: str, data: bytes) -> bool:
        keys = [self.keys.job(job_id), self.keys.active_jobs()]
        args = [check_bytes(data), job_id]
        with self._call("create_job_if_absent"):
            created = bool(self._create_job(keys=keys, args=args))
        if created:
            log.debug("job created job=%s", job_id)
        return created

    def put_job(self, job_id: str, data: bytes) -> None:
        key, data = self.keys.job(job_id), check_bytes(data)
        with self._call("put_job") as r:
            r.set(key, data, keepttl=True)

    def get_job(self, job_id: str) -> bytes | None:
        key = self.keys.job(job_id)
        with self._call("get_job") as r:
            return r.get(key)

    def list_active_jobs(self) -> list[str]:
        with self._call("list_active_jobs") as r:
            members = r.smembers(self.keys.active_jobs())
        return sorted(m.decode() for m in members)

    def mark_job_done(self, job_id: str) -> None:
        ms = ttl_ms(self.finished_ttl_s)
        expiring = self.keys.job_keys_expiring_when_done(job_id)
        with self._call("mark_job_done") as r:
            pipe = r.pipeline(transaction=True)
            pipe.srem(self.keys.active_jobs(), job_id)
            for key in expiring:
                pipe.pexpire(key, ms)
            pipe.execute()
        log.debug("job done job=%s ttl_s=%s", job_id, self.finished_ttl_s)

    # per-subtask state
    def put_subtask(self, job_id: str, subtask_id: str, data: bytes) -> None:
        key, data = self.keys.subtasks(job_id), check_bytes(data)
        with self._call("put_subtask") as r:
            r.hset(key, subtask_id, data)

    def get_subtasks(self, job_id: str) -> dict[str, bytes]:
        key = self.keys.subtasks(job_id)
        with self._call("get_subtasks") as r:
            table = r.hgetall(key)
        return {k.decode(): v for k, v in table.items()}

    # leases
    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        args = [check_owner(owner), ttl_ms(ttl_s)]
        with self._call("acquire_lease"):
            return bool(self._acquire(keys=[self.keys.lease(job_id)], args=args))

    def renew_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        args = [check_owner(owner), ttl_ms(ttl_s)]
        with self._call("renew_lease"):
            return bool(self._renew(keys=[self.keys.lease(job_id)], args=args))

    def release_lease(self, job_id: str, owner: str) -> None:
        args = [check_owner(owner)]
        with self._call("release_lease"):
            self._release(keys=[self.keys.lease(job_id)], args=args)

    def lease_owner(self, job_id: str) -> str | None:
        key = self.keys.lease(job_id)
        with self._call("lease_owner") as r:
            owner = r.get(key)
        return owner.decode() if owner is not None else None

    # caches
    def get_plan(self, key: str) -> bytes | None:
        return self._get_cached("get_plan", self.keys.plan(key))

    def put_plan(self, key: str, data: bytes, ttl_s: float) -> None:
        self._put_cached("put_plan", self.keys.plan(key), data, ttl_s)

    def get_output(self, key: str) -> bytes | None:
        return self._get_cached("get_output", self.keys.output(key))

    def put_output(self, key: str, data: bytes, ttl_s: float) -> None:
        self._put_cached("put_output", self.keys.output(key), data, ttl_s)

    def _get_cached(self, op: str, full_key: str) -> bytes | None:
        with self._call(op) as r:
            return r.get(full_key)

    def _put_cached(self, op: str, full_key: str, data: bytes, ttl_s: float) -> None:
        data, ms = check_bytes(data), ttl_ms(ttl_s)
        with self._call(op) as r:
            r.set(full_key, data, px=ms)

    # progress events
    def append_event(self, job_id: str, data: bytes) -> int:
        key, data = self.keys.events(job_id), check_bytes(data)
        with self._call("append_event") as r:
            return int(r.rpush(key, data)) - 1

    def events(self, job_id: str, start: int = 0) -> list[bytes]:
        key, start = self.keys.events(job_id), check_start(start)
        with self._call("events") as r:
            return list(r.lrange(key, start, -1))

    def ping(self) -> None:
        with self._call("ping") as r:
            r.ping()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        except redis.RedisError as exc:  # closing a dead connection is not news
            log.debug("redis close url=%s error=%s", self.display_url, exc)
