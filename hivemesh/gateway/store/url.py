"""Store URLs: which schemes are known, and how to show one without secrets."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SENTINEL_SCHEMES = frozenset({"redis+sentinel", "rediss+sentinel"})
CLUSTER_SCHEMES = frozenset({"redis+cluster", "rediss+cluster"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"}) | SENTINEL_SCHEMES | CLUSTER_SCHEMES
MEMORY_SCHEME = "memory"
SECRET_PARAMS = frozenset({"password", "sentinel_password"})


def redact_url(url: str) -> str:
    """The URL with any password (userinfo, ``?password=``, ``?sentinel_password=``) as ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{userinfo}@{host}"
        query = parts.query
        if query:
            pairs = [(k, "***" if k.lower() in SECRET_PARAMS else v)
                     for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode(pairs, safe="*")
        shown = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path
            shown = f"{parts.scheme}://" + shown[len(parts.scheme) + 1:]
        return shown
    except ValueError:
        return "<unparseable store URL>"
