"""The shared throwaway redis-server helper in tests/redis_server.py."""

from __future__ import annotations

import socket

from tests.redis_server import RedisServer, throwaway_redis


def test_server_starts_answers_and_is_gone_after() -> None:
    with throwaway_redis() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.command("PING") == "+PONG"
        assert server.command("CONFIG", "GET", "appendonly") == "*2"
    assert server.process.poll() is not None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0


def test_password_server_requires_auth() -> None:
    with throwaway_redis(password="pw") as server:
        assert server.url.startswith("redis://:pw@")
        assert server.command("PING") == "+PONG"
        bare = RedisServer.__new__(RedisServer)
        bare.port, bare.password = server.port, None
        assert bare.command("PING").startswith("-NOAUTH")


def test_session_fixture_is_flushed(redis_server_url: str, redis_server: RedisServer) -> None:
    assert redis_server.url == redis_server_url
    assert redis_server.command("DBSIZE") == ":0"
