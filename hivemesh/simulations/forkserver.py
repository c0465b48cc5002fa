"""The harness's side of the fork server (``zygote``): start it, ask it for peers.

``ForkServer.spawn`` returns a ``ForkedProc``, which quacks like the part of
``subprocess.Popen`` the cluster uses (``pid``, ``poll``, ``send_signal``,
``kill``, ``wait``). A forked peer is the zygote's child, not ours, so its
exit status is not ours to read: ``poll`` says only whether it still runs
(``None``) or not (``-1``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from hivemesh.simulations.errors import PeerStartFailed

READY_TIMEOUT_S = 120.0  # the zygote's imports, on a busy machine
ZYGOTE = [sys.executable, "-m", "hivemesh.simulations.zygote"]


class ForkedProc:
    def __init__(self, pid: int, stdout: Path) -> None:
        self.pid, self.stdout_path = pid, stdout
        self.stdout = None  # the first line is read from ``stdout_path`` (``first_line``)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _running(self.pid):
            self.returncode = -1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                self.returncode = -1

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.05)
        return -1

    async def wait_first_line(self) -> str:
        """The first line the peer prints, once it has; "" if it died first."""
        line = self.first_line()
        while not line and self.poll() is None:
            await trio.sleep(0.05)
            line = self.first_line()
        return line

    def first_line(self) -> str:
        """The first complete line the peer printed, or "" (none yet)."""
        try:
            with open(self.stdout_path, encoding="utf-8", errors="replace") as f:
                line = f.readline()
        except OSError:
            return ""
        return line if line.endswith("\n") else ""


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (the zygote ignores SIGCHLD, so a dead child is reaped at once,
    but a zombie may show for a moment: /proc says which)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


class ForkServer:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.proc: subprocess.Popen[str] | None = None
        self._lock = trio.Lock()

    async def start(self) -> None:
        err = open(self.logs / "zygote.log", "ab")  # noqa: SIM115  (the child holds it)
        self.proc = subprocess.Popen(ZYGOTE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                     text=True, start_new_session=True)
        err.close()
        with trio.move_on_after(READY_TIMEOUT_S):
            reply = await self._read()
            if reply.get("ready"):
                return
        self.close()
        raise PeerStartFailed("the peers' fork server (zygote) did not start; see zygote.log")

    async def spawn(self, argv: list[str], name: str) -> ForkedProc:
        stdout, stderr = self.logs / f"{name}.out", self.logs / f"{name}.log"
        assert self.proc is not None and self.proc.stdin is not None
        async with self._lock:
            self.proc.stdin.write(json.dumps({"argv": argv, "stdout": str(stdout), "stderr": str(stderr)}) + "\n")
            self.proc.stdin.flush()
            reply = await self._read()
        if "pid" not in reply:
            raise PeerStartFailed(f"the fork server did not start {name}: {reply.get('error', reply)}")
        return ForkedProc(int(reply["pid"]), stdout)

    async def _read(self) -> dict[str, object]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await trio.to_thread.run_sync(self.proc.stdout.readline, abandon_on_cancel=True)
        if not line:
            return {"error": f"the fork server exited ({self.proc.poll()})"}
        return json.loads(line)

    def close(self) -> None:
        """Stop the zygote (its children run on, each in its own session)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
