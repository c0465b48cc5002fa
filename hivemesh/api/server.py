"""Serving the API with ``hypercorn.trio`` on the peer's own trio loop.

Why hypercorn: it is the ASGI server that runs on trio natively, so the app
shares the loop (and the ``Gateway`` object) with the libp2p host: no second
event loop, no thread hop between an HTTP request and its job. Starlette runs
on trio through anyio.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from hivemesh.errors import ConfigError

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 10  # a connection without a whole request (headers) this long is closed


def parse_bind(value: str, flag: str = "--http") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{flag} wants HOST:PORT (e.g. 127.0.0.1:8000), got {value!r}")
    return host.strip("[]"), int(port)


async def serve(app: Any, bind: str, name: str = "http",
                task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``bind`` until cancelled; ``started`` with its URL."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    host, port = parse_bind(bind)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger(f"hivemesh.api.{name}")
    config.keep_alive_timeout = IDLE_TIMEOUT_S  # (not read_timeout: it would cut long jobs' idle responses)
    config.graceful_timeout = 1.0

    app = _with_lifespan(app)

    async def started_at(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await hypercorn_serve(app, config, task_status=task_status, mode="asgi")

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(started_at)
        url = binds[0]
        log.info("%s listening on %s", name, url)
        task_status.started(url)


def _with_lifespan(app: Any) -> Any:
    """Answer ASGI lifespan events for an app that has none (prometheus-client's)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]  # startup | shutdown
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return

    return wrapped


@asynccontextmanager
async def gateway_api(settings: Any, gateway: Any, on_status: Any = None) -> AsyncIterator[str | None]:
    """Serve the API on ``settings.http`` while in the context (its URL, or None
    when the peer has no ``--http``)."""
    if not settings.http:
        yield None
        return
    from hivemesh.api.app import Api, ApiSettings

    keys = settings.api_keys()
    if not keys and parse_bind(settings.http)[0] not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the HTTP API on %s takes no API key: anyone who reaches it can run jobs (--api-key)",
                    settings.http)
    api = Api(gateway, ApiSettings(keys=keys, max_jobs=settings.http_max_jobs,
                                   max_tokens=gateway.settings.limits.max_tokens), on_status)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve, api.app(), settings.http)
        try:
            yield url
        finally:
            nursery.cancel_scope.cancel()
