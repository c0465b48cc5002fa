"""Parse ``--redis`` URLs into what the Redis link connects to (pure).

    redis://[[user]:pass@]HOST[:PORT][/DB]         one Redis (rediss:// for TLS, unix:///path)
    redis+sentinel://[[user]:pass@]H:P[,H:P...]/SERVICE[/DB]
                                                   the primary of SERVICE, found through sentinels
    redis+cluster://[[user]:pass@]H:P[,H:P...]     a Redis Cluster (any reachable nodes)

``rediss+sentinel`` and ``rediss+cluster`` use TLS. The user and password are
Redis's; the sentinels' own are ``?sentinel_username=`` / ``?sentinel_password=``.
Options on every scheme:

    min_replicas=N   job creation, events and the end of a job wait (WAIT) for
                     N replicas to have them; 0 (default) waits for none
    wait_ms=MS       how long such a write waits for them (default 500)
    failover_s=S     how long a call keeps retrying while the primary is
                     replaced (default 15 on Sentinel and Cluster, 0 on one Redis)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from hivemesh.errors import ConfigError

from .url import CLUSTER_SCHEMES, REDIS_SCHEMES, SENTINEL_SCHEMES, redact_url

SENTINEL_PORT = 26379
REDIS_PORT = 6379
FAILOVER_S = 15.0
WAIT_MS = 500
_OURS = ("min_replicas", "wait_ms", "failover_s")
_SENTINEL_ONLY = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class RedisTarget:
    """Where the store's Redis is and how to use it."""

    mode: str  # "single", "sentinel" or "cluster"
    shown: str  # the URL with passwords redacted, for logs and errors
    url: str = field(default="", repr=False)  # single: what redis-py opens (our options taken out)
    hosts: tuple[tuple[str, int], ...] = ()  # sentinels, or cluster seed nodes
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False
    min_replicas: int = 0
    wait_ms: int = WAIT_MS
    failover_s: float = 0.0


def parse_redis_url(url: str) -> RedisTarget:
    """A ``RedisTarget``; ``ConfigError`` naming the (redacted) URL when it is bad."""
    if not isinstance(url, str):
        raise ConfigError(f"redis URL must be text, got {type(url).__name__}")
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in REDIS_SCHEMES:
            raise ValueError("use redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://")
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        opts = {k: v for k, v in query if k in _OURS}
        common = _options(opts, clustered=scheme in SENTINEL_SCHEMES | CLUSTER_SCHEMES)
        if scheme in SENTINEL_SCHEMES:
            return _sentinel(parts, dict(query), shown, common)
        if scheme in CLUSTER_SCHEMES:
            return _cluster(parts, dict(query), shown, common)
        rest = urlencode([(k, v) for k, v in query if k not in _OURS])
        bare = url.split("?", 1)[0]  # not urlunsplit: it turns unix:///path into unix:/path
        return RedisTarget("single", shown, url=f"{bare}?{rest}" if rest else bare, **common)
    except ValueError as exc:
        raise ConfigError(f"bad redis URL {shown!r}: {exc}") from None


def _options(opts: dict[str, str], *, clustered: bool) -> dict:
    min_replicas = int(opts.get("min_replicas", "0"))
    wait_ms = int(opts.get("wait_ms", str(WAIT_MS)))
    failover_s = float(opts.get("failover_s", str(FAILOVER_S if clustered else 0.0)))
    if min_replicas < 0 or wait_ms <= 0 or not 0 <= failover_s <= 300:
        raise ValueError("min_replicas >= 0, wait_ms > 0 and 0 <= failover_s <= 300")
    return {"min_replicas": min_replicas, "wait_ms": wait_ms, "failover_s": failover_s}


def _sentinel(parts, query: dict[str, str], shown: str, common: dict) -> RedisTarget:
    _only(query, _OURS + _SENTINEL_ONLY)
    segments = [s for s in parts.path.split("/") if s]
    if not 1 <= len(segments) <= 2:
        raise ValueError("the path must be /SERVICE or /SERVICE/DB")
    db = _db(segments[1]) if len(segments) == 2 else 0
    user, password, hosts = _netloc(parts.netloc, SENTINEL_PORT)
    return RedisTarget("sentinel", shown, hosts=hosts, service=unquote(segments[0]), db=db,
                       username=user, password=password,
                       sentinel_username=query.get("sentinel_username") or None,
                       sentinel_password=query.get("sentinel_password") or None,
                       tls=parts.scheme.startswith("rediss"), **common)


def _cluster(parts, query: dict[str, str], shown: str, common: dict) -> RedisTarget:
    _only(query, _OURS)
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("a cluster has only database 0")
    user, password, hosts = _netloc(parts.netloc, REDIS_PORT)
    return RedisTarget("cluster", shown, hosts=hosts, username=user, password=password,
                       tls=parts.scheme.startswith("rediss"), **common)


def _only(query: dict[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(known)})")


def _db(text: str) -> int:
    db = int(text)
    if db < 0:
        raise ValueError("the database number must be >= 0")
    return db


def _netloc(netloc: str, default_port: int) -> tuple[str | None, str | None,
                                                     tuple[tuple[str, int], ...]]:
    user = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        name, _, secret = userinfo.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if ":" in userinfo else None
    hosts = tuple(_host(h, default_port) for h in netloc.split(","))
    if not hosts:
        raise ValueError("no HOST:PORT given")
    return user, password, hosts


def _host(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"empty host in {text!r}")
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port
