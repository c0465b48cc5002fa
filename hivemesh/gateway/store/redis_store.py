"""Job store on Redis (one server, Sentinel or Cluster): what gateways share.

Every key of a job carries the hash tag ``{job:<id>}`` (see ``keys``), so
the Lua scripts below touch one slot and run on a Redis Cluster as on one
server. ``RedisLink`` retries a call while Sentinel or the Cluster replaces a
primary, so every write here is safe to apply twice: plain SETs, HSETs and
expiries are idempotent; leases are re-entrant for their holder; creating a
job and appending an event carry a token per call, kept in the job's
``marks`` hash, and a retry that finds its token returns the first reply.
The one exception is the trust record's compare-and-swap (one check outcome):
a retry of an applied swap fails as a lost race and its outcome is counted
again, one outcome twice, only across a failover.

With ``min_replicas`` > 0 the writes whose loss would lose a job or confuse
its clients (creation, every event a client can see, the end of the job)
wait for that many replicas (``WAIT``, bounded by ``wait_ms``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .base import DEFAULT_FINISHED_TTL_S, check_bytes, check_owner, check_start, ttl_ms
from .keys import DEFAULT_PREFIX, Keys
from .redis_link import RedisLink
from .redis_url import RedisTarget, parse_redis_url

log = logging.getLogger(__name__)

UNFINISHED_CREATE_S = 600.0  # an active-set entry whose record never came is dropped after this

# KEYS[1]=job KEYS[2]=marks; ARGV[1]=data ARGV[2]=token of this call
_CREATE_JOB = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('HSET', KEYS[2], 'create', ARGV[2])
  return 1
end
if redis.call('HGET', KEYS[2], 'create') == ARGV[2] then return 1 end
return 0
"""
# KEYS[1]=events KEYS[2]=marks; ARGV[1]=data ARGV[2]=token of this call
_APPEND_EVENT = """
local done = redis.call('HGET', KEYS[2], ARGV[2])
if done then return tonumber(done) end
local index = redis.call('RPUSH', KEYS[1], ARGV[1]) - 1
redis.call('HSET', KEYS[2], ARGV[2], index)
return index
"""
# KEYS = the job's keys; ARGV[1]=ttl ms
_EXPIRE_ALL = """
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[1]) end
return 1
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
# KEYS[1]=trust hash; ARGV[1]=peer ARGV[2]=new ARGV[3]=old ARGV[4]="1" when old is absent.
# Not made idempotent: two gateways applying the same outcome to the same record write the
# same bytes, and both must count. A swap retried through a failover after it was applied
# reads as a lost race; the caller applies its outcome again (one outcome counted twice).
_SWAP_TRUST = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
_SCRIPTS = {name: (body, hashlib.sha1(body.encode()).hexdigest()) for name, body in {
    "create": _CREATE_JOB, "append": _APPEND_EVENT, "expire": _EXPIRE_ALL,
    "acquire": _ACQUIRE_LEASE, "renew": _RENEW_LEASE, "release": _RELEASE_LEASE,
    "swap_trust": _SWAP_TRUST}.items()}


class RedisStore:
    """A ``JobStore`` over a ``RedisLink`` (thread-safe: redis-py pools connections)."""

    def __init__(self, link: RedisLink, *, prefix: str = DEFAULT_PREFIX,
                 finished_ttl_s: float = DEFAULT_FINISHED_TTL_S) -> None:
        ttl_ms(finished_ttl_s)
        self.link = link
        self.keys = Keys(prefix)
        self.finished_ttl_s = finished_ttl_s
        self.display_url = link.shown
        link.scripts.update({sha: body for body, sha in _SCRIPTS.values()})

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, *,
                 finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
                 connect_timeout_s: float = 2.0, timeout_s: float = 5.0) -> RedisStore:
        """A store on any ``--redis`` URL (see ``redis_url``); connects lazily:
        call ``ping()`` to check the server up front."""
        target: RedisTarget = parse_redis_url(url)
        link = RedisLink(target, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s)
        log.info("redis store url=%s mode=%s prefix=%s min_replicas=%d", target.shown, target.mode,
                 prefix, target.min_replicas)
        return cls(link, prefix=prefix, finished_ttl_s=finished_ttl_s)

    def _eval(self, r: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        return r.evalsha(_SCRIPTS[name][1], len(keys), *keys, *args)

    # job records
    def create_job_if_absent(self, job_id: str, data: bytes) -> bool:
        keys = [self.keys.job(job_id), self.keys.marks(job_id)]
        args = [check_bytes(data), uuid.uuid4().hex]
        active = self.keys.active_jobs()
        # In the active set first (idempotent): a record is never left out of it. Durable
        # too: on a Cluster the set lives on another node than the job.
        self.link.durable("create_job_if_absent", active,
                          lambda pipe: pipe.zadd(active, {job_id: time.time()}, nx=True))
        replies = self.link.durable("create_job_if_absent", keys[0],
                                    lambda pipe: self._eval(pipe, "create", keys, args))
        created = bool(replies[0])
        if created:
            log.debug("job created job=%s", job_id)
        return created

    def put_job(self, job_id: str, data: bytes) -> None:
        key, data = self.keys.job(job_id), check_bytes(data)
        self.link.run("put_job", lambda r: r.set(key, data, keepttl=True), key)

    def get_job(self, job_id: str) -> bytes | None:
        key = self.keys.job(job_id)
        return self.link.run("get_job", lambda r: r.get(key), key)

    def list_active_jobs(self) -> list[str]:
        """Active-set members whose record exists; members whose record never
        came (a create that failed half-way) are dropped after a while."""
        active = self.keys.active_jobs()
        members = self.link.run("list_active_jobs", lambda r: r.zrange(active, 0, -1, withscores=True), active)
        if not members:
            return []
        ids = [m.decode() for m, _ in members]

        def exists(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for job_id in ids:
                pipe.exists(self.keys.job(job_id))
            return pipe.execute()

        found = self.link.run("list_active_jobs", exists)
        stale = [job_id for job_id, (_, since), ok in zip(ids, members, found)
                 if not ok and time.time() - since > UNFINISHED_CREATE_S]
        if stale:
            self.link.run("list_active_jobs", lambda r: r.zrem(active, *stale), active)
        return sorted(job_id for job_id, ok in zip(ids, found) if ok)

    def mark_job_done(self, job_id: str) -> None:
        keys = list(self.keys.job_keys_expiring_when_done(job_id))
        ms, active = ttl_ms(self.finished_ttl_s), self.keys.active_jobs()
        # Expire first: a failure between the two leaves a job that ends on its own.
        self.link.durable("mark_job_done", keys[0], lambda pipe: self._eval(pipe, "expire", keys, [ms]))
        self.link.run("mark_job_done", lambda r: r.zrem(active, job_id), active)
        log.debug("job done job=%s ttl_s=%s", job_id, self.finished_ttl_s)

    # per-subtask state
    def put_subtask(self, job_id: str, subtask_id: str, data: bytes) -> None:
        key, data = self.keys.subtasks(job_id), check_bytes(data)
        self.link.run("put_subtask", lambda r: r.hset(key, subtask_id, data), key)

    def get_subtasks(self, job_id: str) -> dict[str, bytes]:
        key = self.keys.subtasks(job_id)
        table = self.link.run("get_subtasks", lambda r: r.hgetall(key), key)
        return {k.decode(): v for k, v in table.items()}

    # leases
    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        keys, args = [self.keys.lease(job_id)], [check_owner(owner), ttl_ms(ttl_s)]
        return bool(self.link.run("acquire_lease", lambda r: self._eval(r, "acquire", keys, args), keys[0]))

    def renew_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        keys, args = [self.keys.lease(job_id)], [check_owner(owner), ttl_ms(ttl_s)]
        return bool(self.link.run("renew_lease", lambda r: self._eval(r, "renew", keys, args), keys[0]))

    def release_lease(self, job_id: str, owner: str) -> None:
        keys, args = [self.keys.lease(job_id)], [check_owner(owner)]
        self.link.run("release_lease", lambda r: self._eval(r, "release", keys, args), keys[0])

    def lease_owner(self, job_id: str) -> str | None:
        key = self.keys.lease(job_id)
        owner = self.link.run("lease_owner", lambda r: r.get(key), key)
        return owner.decode() if owner is not None else None

    # caches
    def get_plan(self, key: str) -> bytes | None:
        full = self.keys.plan(key)
        return self.link.run("get_plan", lambda r: r.get(full), full)

    def put_plan(self, key: str, data: bytes, ttl_s: float) -> None:
        self._put_cached("put_plan", self.keys.plan(key), data, ttl_s)

    def get_output(self, key: str) -> bytes | None:
        full = self.keys.output(key)
        return self.link.run("get_output", lambda r: r.get(full), full)

    def put_output(self, key: str, data: bytes, ttl_s: float) -> None:
        self._put_cached("put_output", self.keys.output(key), data, ttl_s)

    def _put_cached(self, op: str, full_key: str, data: bytes, ttl_s: float) -> None:
        data, ms = check_bytes(data), ttl_ms(ttl_s)
        self.link.run(op, lambda r: r.set(full_key, data, px=ms), full_key)

    # progress events
    def append_event(self, job_id: str, data: bytes) -> int:
        keys = [self.keys.events(job_id), self.keys.marks(job_id)]
        args = [check_bytes(data), uuid.uuid4().hex]
        replies = self.link.durable("append_event", keys[0],
                                    lambda pipe: self._eval(pipe, "append", keys, args))
        return int(replies[0])

    def write_step(self, job_id: str, subtasks: Sequence[tuple[str, bytes]], events: Sequence[bytes]) -> list[int]:
        """One pipeline (one round trip, one ``WAIT``): an HSET of the records,
        then each event's append script; a retry re-sends it all (both idempotent)."""
        table, keys = self.keys.subtasks(job_id), [self.keys.events(job_id), self.keys.marks(job_id)]
        records = {sid: check_bytes(data) for sid, data in subtasks}
        appends = [[check_bytes(data), uuid.uuid4().hex] for data in events]
        if not records and not appends:
            return []

        def queue(pipe: Any) -> None:
            if records:
                pipe.hset(table, mapping=records)
            for args in appends:
                self._eval(pipe, "append", keys, args)

        replies = self.link.durable("write_step", table if records else keys[0], queue)
        return [int(r) for r in replies[1 if records else 0:]]

    def events(self, job_id: str, start: int = 0) -> list[bytes]:
        key, start = self.keys.events(job_id), check_start(start)
        return list(self.link.run("events", lambda r: r.lrange(key, start, -1), key))

    # shared trust record
    def trust_records(self) -> dict[str, bytes]:
        key = self.keys.trust()
        table = self.link.run("trust_records", lambda r: r.hgetall(key), key)
        return {k.decode(): v for k, v in table.items()}

    def trust_record(self, peer_id: str) -> bytes | None:
        key = self.keys.trust()
        return self.link.run("trust_record", lambda r: r.hget(key, peer_id), key)

    def swap_trust_record(self, peer_id: str, old: bytes | None, new: bytes) -> bool:
        keys = [self.keys.trust()]
        args = [peer_id, check_bytes(new), b"" if old is None else check_bytes(old), "1" if old is None else "0"]
        return bool(self.link.run("swap_trust_record", lambda r: self._eval(r, "swap_trust", keys, args), keys[0]))

    def ping(self) -> None:
        self.link.run("ping", lambda r: r.ping())

    def close(self) -> None:
        self.link.close()
