"""Store URLs: which schemes are known, and how to show one without secrets."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
MEMORY_SCHEME = "memory"


def redact_url(url: str) -> str:
    """The URL with any password (userinfo or ``?password=``) shown as ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{userinfo}@{host}"
        query = parts.query
        if query:
            pairs = [(k, "***" if k.lower() == "password" else v)
                     for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode(pairs, safe="*")
        shown = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path
            shown = f"{parts.scheme}://" + shown[len(parts.scheme) + 1:]
        return shown
    except ValueError:
        return "<unparseable store URL>"
