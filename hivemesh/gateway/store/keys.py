"""Every key name the job store uses, built in one place."""

from __future__ import annotations

DEFAULT_PREFIX = "hivemesh:"


class Keys:
    """Key names under one prefix (``hivemesh:`` by default).

    ``job:{id}`` record, ``job:{id}:subtasks`` hash, ``job:{id}:lease``,
    ``job:{id}:events`` list, ``jobs:active`` set, ``plan:{key}``,
    ``output:{key}``.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix:
            raise ValueError("key prefix must not be empty")
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{_check_id(job_id)}"

    def subtasks(self, job_id: str) -> str:
        return f"{self.job(job_id)}:subtasks"

    def lease(self, job_id: str) -> str:
        return f"{self.job(job_id)}:lease"

    def events(self, job_id: str) -> str:
        return f"{self.job(job_id)}:events"

    def active_jobs(self) -> str:
        return f"{self.prefix}jobs:active"

    def plan(self, cache_key: str) -> str:
        return f"{self.prefix}plan:{_check_id(cache_key)}"

    def output(self, cache_key: str) -> str:
        return f"{self.prefix}output:{_check_id(cache_key)}"

    def job_keys_expiring_when_done(self, job_id: str) -> tuple[str, ...]:
        """Keys of a job that get the finished-job TTL."""
        return (self.job(job_id), self.subtasks(job_id), self.events(job_id))


def _check_id(value: str) -> str:
    """Ids become key segments: non-empty text without ':' or whitespace."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"id must be a non-empty string, got {value!r}")
    if ":" in value or any(ch.isspace() for ch in value):
        raise ValueError(f"id must not contain ':' or whitespace: {value!r}")
    return value
