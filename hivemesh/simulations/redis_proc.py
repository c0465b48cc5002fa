"""A throwaway ``redis-server`` for a simulation run.

Started on a free loopback port in a temporary directory with persistence
off, checked with PING, killed at the end. Speaks just enough RESP for PING,
so it needs no client library.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hivemesh.errors import StoreUnavailable
from hivemesh.simulations.errors import SimConfigError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
ATTEMPTS = 3


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.makefile("rb").readline().startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` of a fresh server; stop it afterwards."""
    binary = redis_binary()
    if binary is None:
        raise SimConfigError("this run needs redis-server (--redis or --processes); install the "
                             "redis-server package or put it on PATH")
    with tempfile.TemporaryDirectory(prefix="hivemesh-sim-redis-") as tmp:
        proc, port = _start(binary, Path(tmp))
        log.info("throwaway redis-server pid=%d port=%d", proc.pid, port)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait(timeout=5)


def _start(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(ATTEMPTS):
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(workdir), "--daemonize", "no"]
        with open(workdir / "redis.log", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if ping(port):
                return proc, port
            time.sleep(0.02)
        proc.kill()
        proc.wait()
    tail = (workdir / "redis.log").read_text(errors="replace")[-1000:]
    raise StoreUnavailable(f"redis-server did not start; log tail:\n{tail}")
