"""Gateway job state: one ``JobStore`` interface, in-process and Redis backends.

``open_store(url)`` picks the backend from a URL: ``None`` or ``memory://``
gives a private ``MemoryStore``; ``redis://``, ``rediss://``, ``unix://``,
``redis+sentinel://`` and ``redis+cluster://`` (see ``redis_url``) give a
``RedisStore``. ``RedisStore`` is imported lazily so ``redis`` loads only
when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hivemesh.errors import ConfigError

from .base import DEFAULT_FINISHED_TTL_S, JobStore
from .cache_keys import normalize_job_text, output_cache_key, plan_cache_key
from .keys import DEFAULT_PREFIX, Keys
from .memory import MemoryBackend, MemoryStore
from .url import MEMORY_SCHEME, REDIS_SCHEMES, redact_url

if TYPE_CHECKING:
    from .redis_store import RedisStore

__all__ = [
    "DEFAULT_FINISHED_TTL_S", "DEFAULT_PREFIX", "JobStore", "Keys", "MemoryBackend",
    "MemoryStore", "RedisStore", "normalize_job_text", "open_store", "output_cache_key",
    "plan_cache_key",
]


def open_store(url: str | None, prefix: str = DEFAULT_PREFIX, *,
               finished_ttl_s: float = DEFAULT_FINISHED_TTL_S) -> JobStore:
    """The store a URL names; ``ConfigError`` for an unknown scheme."""
    if url is None or url == f"{MEMORY_SCHEME}://":
        return MemoryStore(prefix, finished_ttl_s=finished_ttl_s)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in REDIS_SCHEMES:
        from .redis_store import RedisStore

        return RedisStore.from_url(url, prefix, finished_ttl_s=finished_ttl_s)
    raise ConfigError(f"unknown store URL {redact_url(url)!r}: use memory://, redis://, "
                      "rediss://, unix://, redis+sentinel:// or redis+cluster://")


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from .redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
