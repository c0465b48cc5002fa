"""Every key name the job store uses, built in one place.

All keys of one job share the hash tag ``{job:<id>}``, so on Redis Cluster
they live in one slot: the Lua scripts and multi-key updates of a job run on
one node. Keys that are not a job's (the active set, the caches) are single
keys touched one at a time.
"""

from __future__ import annotations

DEFAULT_PREFIX = "hivemesh:"


class Keys:
    """Key names under one prefix (``hivemesh:`` by default).

    ``{job:<id>}`` record, ``{job:<id>}:subtasks`` hash, ``{job:<id>}:lease``,
    ``{job:<id>}:events`` list, ``{job:<id>}:marks`` (tokens of writes already
    applied, so a retried write is not applied twice), ``jobs:active``,
    ``plan:<key>``, ``output:<key>``, ``trust`` (a hash: peer id -> its
    ``PeerRecord``, shared by the gateways); each after the prefix.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix:
            raise ValueError("key prefix must not be empty")
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"key prefix must not contain braces (they are hash tags): {prefix!r}")
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}{{job:{_check_id(job_id)}}}"

    def subtasks(self, job_id: str) -> str:
        return f"{self.job(job_id)}:subtasks"

    def lease(self, job_id: str) -> str:
        return f"{self.job(job_id)}:lease"

    def events(self, job_id: str) -> str:
        return f"{self.job(job_id)}:events"

    def marks(self, job_id: str) -> str:
        return f"{self.job(job_id)}:marks"

    def active_jobs(self) -> str:
        return f"{self.prefix}jobs:active"

    def plan(self, cache_key: str) -> str:
        return f"{self.prefix}plan:{_check_id(cache_key)}"

    def output(self, cache_key: str) -> str:
        return f"{self.prefix}output:{_check_id(cache_key)}"

    def trust(self) -> str:
        return f"{self.prefix}trust"

    def job_keys_expiring_when_done(self, job_id: str) -> tuple[str, ...]:
        """Keys of a job that get the finished-job TTL (all in the job's slot)."""
        return (self.job(job_id), self.subtasks(job_id), self.events(job_id), self.marks(job_id))


def hash_tag(key: str) -> str:
    """The part of ``key`` Redis Cluster hashes: the first ``{...}``, else all of it."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def _check_id(value: str) -> str:
    """Ids become key segments: non-empty text without ':', braces or whitespace."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"id must be a non-empty string, got {value!r}")
    if any(ch in ":{}" or ch.isspace() for ch in value):
        raise ValueError(f"id must not contain ':', braces or whitespace: {value!r}")
    return value
