"""Simulated peers as OS processes, so a kill is a real ``kill -9``.

The bootstrap is ``python -m hivemesh bootstrap``; workers and gateways run
``hivemesh.simulations.peerproc`` (the ``hivemesh peer`` daemon with the
chain planner and a stats file, see there), each forked from one template
process that imported their code once (``zygote``: the imported pages stay
shared) or, with ``fork_server`` off, each its own ``python -m``. All share
a throwaway Redis. Each prints its multiaddr first; a peer that does not within
``START_TIMEOUT_S`` is a ``PeerStartFailed`` with its log's tail. Clients
(observer nodes) run in this process. ``PEERPROC_LOG_LEVEL=info`` in the
environment sets the peers' log level (their logs: ``peer-logs/`` under ``--out``);
``PEERPROC_LIBP2P_LOG_LEVEL=warning`` lets py-libp2p's own records through too
(silent otherwise: gossipsub's GRAFT floods and rate limits among them).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import trio

from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig, MeshNode
from hivemesh.peer import inprocess
from hivemesh.simulations.errors import PeerStartFailed
from hivemesh.simulations.forkserver import ForkedProc, ForkServer
from hivemesh.simulations.peers import PeerStats, SimPeer
from hivemesh.simulations.settings import SimSettings
from hivemesh.simulations.workload import WorkerModel

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
#: peer processes starting at once: each start imports py-libp2p (seconds of CPU), and a
#: hundred at once on a small machine would each miss START_TIMEOUT_S
STARTS_AT_ONCE = 4
TERM_GRACE_S = 5.0
PEERPROC = [sys.executable, "-m", "hivemesh.simulations.peerproc"]


class ProcessCluster:
    mode = "processes"

    def __init__(self, nursery: trio.Nursery, settings: SimSettings, redis_url: str, workdir: Path,
                 logs: Path, capabilities: int) -> None:
        """Keys and stats files go to ``workdir``, each peer's stderr to ``logs/NAME.log``."""
        self.nursery, self.settings, self.redis_url = nursery, settings, redis_url
        self.workdir, self.logs, self.capabilities = workdir, logs, capabilities
        self.bootstrap = ""
        self.procs: list[subprocess.Popen[str] | ForkedProc] = []
        self._starting = trio.Semaphore(STARTS_AT_ONCE)
        logs.mkdir(parents=True, exist_ok=True)
        self.forks = ForkServer(logs) if settings.fork_server else None

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[str]:
        with open(self.logs / f"{name}.log", "ab") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                    text=True, start_new_session=True)
        self.procs.append(proc)
        return proc

    async def _first_line(self, proc: subprocess.Popen[str] | ForkedProc, name: str) -> str:
        with trio.move_on_after(START_TIMEOUT_S):
            if isinstance(proc, ForkedProc):
                line = await proc.wait_first_line()
            else:
                assert proc.stdout is not None
                line = await trio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
            if line.startswith("/"):
                return line.strip()
        proc.kill()
        tail = (self.logs / f"{name}.log").read_text(errors="replace")[-1500:]
        raise PeerStartFailed(f"peer process {name} did not start (exit {proc.poll()}); log tail:\n{tail}")

    def _common(self, name: str) -> list[str]:
        return ["--bootstrap", self.bootstrap, "--identity", str(self.workdir / f"{name}.key"),
                "--stats", str(self._stats_path(name)), "--advert-interval", str(self.settings.advert_interval),
                "--advert-budget", str(self.settings.advert_budget),
                "--log-level", os.environ.get("PEERPROC_LOG_LEVEL", "warning")]  # see the docstring

    def _stats_path(self, name: str) -> Path:
        return self.workdir / f"{name}.stats.json"

    async def start_bootstrap(self) -> str:
        proc = self._spawn([sys.executable, "-m", "hivemesh", "bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0",
                            "--identity", str(self.workdir / "boot.key"), "--log-level", "warning"], "boot")
        if self.forks is not None:
            await self.forks.start()  # its imports while the bootstrap starts
        self.bootstrap = await self._first_line(proc, "boot")
        return self.bootstrap

    async def start_worker(self, name: str, model: WorkerModel) -> tuple[str, Any, int | None]:
        argv = [*PEERPROC, *self._common(name), "--model", model.spec(f"sim-{name}", self.settings.reply_words),
                "--slots", str(self.settings.slots), "--added-latency", f"{model.added_latency_s:.6f}"]
        return await self._start(argv, name)

    async def start_gateway(self, name: str) -> tuple[str, Any, int | None]:
        argv = [*PEERPROC, *self._common(name), "--gateway", "--redis", self.redis_url,
                "--stages", str(self.settings.stages), "--capabilities", str(self.capabilities)]
        return await self._start(argv, name)

    async def _start(self, argv: list[str], name: str) -> tuple[str, Any, int | None]:
        async with self._starting:
            if self.forks is None:
                proc: subprocess.Popen[str] | ForkedProc = self._spawn(argv, name)
            else:
                proc = await self.forks.spawn(argv[len(PEERPROC):], name)
                self.procs.append(proc)
            addr = await self._first_line(proc, name)
        return addr.rsplit("/p2p/", 1)[1], proc, proc.pid

    async def start_client(self) -> MeshNode:
        config = MeshConfig(generate(), bootstrap=[self.bootstrap], advert_interval=self.settings.advert_interval,
                            roles=(), advertise=False)  # an observer: it adverts nothing
        return (await inprocess.start_node(self.nursery, config)).node

    async def stop(self, peer: SimPeer, kill: bool) -> None:
        proc: subprocess.Popen[str] | ForkedProc = peer.handle
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.nursery.start_soon(self._reap, proc, peer.name)

    async def _reap(self, proc: subprocess.Popen[str] | ForkedProc, name: str) -> None:
        try:
            await trio.to_thread.run_sync(proc.wait, TERM_GRACE_S, abandon_on_cancel=True)
        except subprocess.TimeoutExpired:
            log.warning("peer %s ignored SIGTERM; killing it", name)
            proc.kill()

    def refresh(self, peer: SimPeer) -> None:
        try:
            data = json.loads(self._stats_path(peer.name).read_text())
        except (OSError, ValueError):
            return  # not written yet, or mid-replace
        peer.stats = PeerStats(**{k: _counter(data.get(k)) for k in ("gossip", "worker", "gateway", "refused")},
                               view=int(data.get("view", 0)))

    async def aclose(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        with trio.move_on_after(TERM_GRACE_S):
            while any(p.poll() is None for p in live):
                await trio.sleep(0.05)
        for proc in live:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for proc in self.procs:
            if proc.stdout is not None:
                proc.stdout.close()
        if self.forks is not None:
            self.forks.close()
        self.nursery.cancel_scope.cancel()


def _counter(value: Any) -> Counter[str]:
    return Counter(value or {})
