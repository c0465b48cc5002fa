"""Real Redis topologies for the store tests: Sentinel and Cluster.

``sentinel_setup()`` runs a primary, a replica and three sentinels (quorum
2, a primary is down after 1 s); ``cluster_setup()`` runs three primaries with
a replica each, joined by ``redis-cli --cluster create`` (a node is failed
after 1 s). Each yields an object with the URL to give the store, its
servers (``kill()`` is a ``kill -9``) and waits for what a test needs.
Everything runs from the Debian ``redis-server``/``redis-cli`` binaries on
free loopback ports in a temporary directory; a test is skipped without them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.redis_server import RedisServer, _start, free_port, redis_server_binary

redis = pytest.importorskip("redis")

SERVICE = "hm-primary"
DOWN_AFTER_MS = 1500


def _binaries() -> tuple[str, str]:
    server, cli = redis_server_binary(), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("redis-server and redis-cli binaries not installed")
    return server, cli


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def client(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, password=password, socket_timeout=2, socket_connect_timeout=1)


class Sentinel:
    """One ``redis-server --sentinel`` process."""

    def __init__(self, binary: str, workdir: Path, primary_port: int, password: str | None) -> None:
        self.port = free_port()
        self.password = password
        conf = workdir / f"sentinel-{self.port}.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {workdir}",
                 f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2",
                 f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                 f"sentinel failover-timeout {SERVICE} 10000"]
        if password is not None:
            lines += [f'sentinel auth-pass {SERVICE} "{password}"', f'requirepass "{password}"']
        conf.write_text("\n".join(lines) + "\n")
        self.log = open(workdir / f"sentinel-{self.port}.log", "wb")
        self.process = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def master(self) -> dict:
        return client(self.port, self.password).sentinel_master(SERVICE)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        self.log.close()


@dataclass
class SentinelSetup:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[Sentinel]
    password: str | None = None

    def url(self, **options: str) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        query = dict(options)
        if self.password:
            query["sentinel_password"] = self.password
        qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
        return f"redis+sentinel://{auth}{hosts}/{SERVICE}/0" + (f"?{qs}" if qs else "")

    def primary_port(self) -> int:
        return int(self.sentinels[0].master()["port"])

    def wait_ready(self, timeout: float = 20) -> None:
        def ready() -> bool:
            info = client(self.replica.port, self.password).info("replication")
            return info.get("master_link_status") == "up" and all(
                int(s.master()["num-other-sentinels"]) == 2 and int(s.master()["num-slaves"]) == 1
                for s in self.sentinels)
        wait_for(ready, timeout, "the replica in sync and the sentinels to know each other")


@contextmanager
def sentinel_setup(password: str | None = None) -> Iterator[SentinelSetup]:
    binary, _ = _binaries()
    auth = ("--masterauth", password) if password else ()
    with tempfile.TemporaryDirectory(prefix="hivemesh-sentinel-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        primary = _started(stack, binary, work / "primary", password, auth)
        replica = _started(stack, binary, work / "replica", password,
                           (*auth, "--replicaof", "127.0.0.1", str(primary.port),
                            "--enable-debug-command", "local"))  # DEBUG SLEEP: a lagging replica
        sentinels = []
        for _ in range(3):
            s = Sentinel(binary, work, primary.port, password)
            stack.callback(s.stop)
            sentinels.append(s)
        setup = SentinelSetup(primary, replica, sentinels, password)
        setup.wait_ready()
        yield setup


@dataclass
class ClusterSetup:
    nodes: list[RedisServer]
    primaries: list[RedisServer] = field(default_factory=list)

    def url(self, **options: str) -> str:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])
        qs = "&".join(f"{k}={v}" for k, v in options.items())
        return f"redis+cluster://{hosts}" + (f"?{qs}" if qs else "")

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def state_ok(self, live: list[RedisServer]) -> bool:
        return all(b"cluster_state:ok" in client(n.port).execute_command("CLUSTER", "INFO")
                   for n in live)

    def replicas_in_sync(self) -> bool:
        roles = [client(n.port).info("replication") for n in self.nodes]
        return sum(r.get("master_link_status") == "up" for r in roles if r["role"] == "slave") == 3


@contextmanager
def cluster_setup() -> Iterator[ClusterSetup]:
    binary, cli = _binaries()
    with tempfile.TemporaryDirectory(prefix="hivemesh-cluster-") as tmp, ExitStack() as stack:
        nodes = []
        for i in range(6):
            work = Path(tmp) / f"node{i}"
            args = ("--cluster-enabled", "yes", "--cluster-config-file", str(work / "nodes.conf"),
                    "--cluster-port", str(free_port()), "--cluster-node-timeout", str(DOWN_AFTER_MS))
            nodes.append(_started(stack, binary, work, None, args))
        addrs = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run([cli, "--cluster", "create", *addrs, "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=30)
        setup = ClusterSetup(nodes)
        wait_for(lambda: setup.state_ok(nodes) and setup.replicas_in_sync(), 30, "the cluster")
        setup.primaries = [n for n in nodes if client(n.port).info("replication")["role"] == "master"]
        yield setup


def _started(stack: ExitStack, binary: str, workdir: Path, password: str | None,
             extra: tuple[str, ...]) -> RedisServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = _start(binary, workdir, password, extra)
    stack.callback(server.stop)
    return server
