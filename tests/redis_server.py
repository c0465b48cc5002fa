"""A throwaway ``redis-server`` for tests.

Starts the real binary on a free loopback port in a temporary directory with
persistence off (``--save "" --appendonly no``), waits until it answers PING,
and kills it afterwards. A test that needs one is skipped when the binary is
not installed.

Use it as a context manager::

    from tests.redis_server import throwaway_redis

    def test_something():
        with throwaway_redis(password="s3cret") as server:
            store = RedisStore.from_url(server.url)
            ...
            server.kill()  # simulate a crash mid-run

or register the fixtures in a ``conftest.py``::

    from tests.redis_server import redis_server, redis_server_url  # noqa: F401

``redis_server`` is one server per session; ``redis_server_url`` is its URL
with the database flushed before the test. The helper speaks RESP itself, so
it does not need the ``redis`` package.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

START_TIMEOUT_S = 5.0
START_ATTEMPTS = 3


def redis_server_binary() -> str | None:
    """Path of ``redis-server``, or None when it is not installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    fallback = "/usr/bin/redis-server"
    return fallback if os.access(fallback, os.X_OK) else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class RedisServer:
    """One running ``redis-server`` process."""

    def __init__(self, binary: str, port: int, workdir: Path, password: str | None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.port = port
        self.password = password
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--daemonize", "no", *extra_args]
        if password is not None:
            argv += ["--requirepass", password]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self, *args: str, timeout: float = 1.0) -> str:
        """Send one command (after AUTH if needed); return the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            replies = 1
            if self.password is not None:
                sock.sendall(_encode("AUTH", self.password))
                replies += 1
            sock.sendall(_encode(*args))
            reader = sock.makefile("rb")
            lines = [reader.readline().decode().rstrip("\r\n") for _ in range(replies)]
        return lines[-1]

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> bool:
        """Poll PING until PONG; False if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.command("PING", timeout=0.5) == "+PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        return False

    def kill(self) -> None:
        """SIGKILL the server (a crash, not a shutdown) and reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=5)

    def stop(self) -> None:
        """Terminate politely, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def throwaway_redis(password: str | None = None,
                    extra_args: tuple[str, ...] = ()) -> Iterator[RedisServer]:
    """Run a fresh ``redis-server`` for the ``with`` block; skip if none installed."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("redis-server binary not installed")
    with tempfile.TemporaryDirectory(prefix="hivemesh-redis-") as tmp:
        server = _start(binary, Path(tmp), password, extra_args)
        try:
            yield server
        finally:
            server.stop()


def _start(binary: str, workdir: Path, password: str | None,
           extra_args: tuple[str, ...]) -> RedisServer:
    """Start on a free port, retrying with another port if one was taken."""
    last_log = ""
    for _ in range(START_ATTEMPTS):
        server = RedisServer(binary, free_port(), workdir, password, extra_args)
        if server.wait_ready():
            return server
        server.stop()
        last_log = server.log_tail()
    raise RuntimeError(f"redis-server did not start; log tail:\n{last_log}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server shared by the whole test session."""
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def redis_server_url(redis_server: RedisServer) -> str:
    """URL of the session server, flushed before the test."""
    if redis_server.process.poll() is not None:
        pytest.fail(f"session redis-server died; log tail:\n{redis_server.log_tail()}")
    reply = redis_server.command("FLUSHALL")
    assert reply == "+OK", reply
    return redis_server.url
