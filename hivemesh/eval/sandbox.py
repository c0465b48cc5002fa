"""Running model-written Python in a separate, locked-down process.

``run_tests(code, tests)`` writes the code and its tests to a fresh temp dir
and starts ``python -I -S _sandbox_child.py`` there (isolated mode, no site
packages: the code gets the standard library only) with a clean environment,
in a new session (process group). The child locks itself down before it
reads the code (see ``_sandbox_child``: network namespace, privileges,
rlimits, audit hook) and reports each test on a pipe. The parent waits at most
``wall_s`` and then kills the whole process group. Nothing of the code is
ever compiled or run in this process.

``SandboxLimits`` are the defaults the eval uses; tests pass tighter ones.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("_sandbox_child.py")
NOBODY = 65534
SIGNALS = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "output size limit", signal.SIGKILL: "killed",
           signal.SIGSEGV: "crashed (SIGSEGV)"}


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 5
    wall_s: float = 10.0
    memory_mb: int = 512
    file_kb: int = 1024


@dataclass(frozen=True)
class SandboxResult:
    passed: int
    total: int
    errors: tuple[str, ...] = ()  # per failed test (or a load/kill error)
    network: str = ""  # the network wall the child got: netns, userns+netns, none
    uid: int = -1  # the user the code ran as (65534 when root could drop to nobody)
    seconds: float = 0.0
    killed: str = field(default="")  # why the process was stopped, if it was

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


def run_tests(code: str, tests: Sequence[str], limits: SandboxLimits = SandboxLimits(), *,
              network: bool = True, audit: bool = True) -> SandboxResult:
    """Run ``code`` and then each test statement in a sandboxed process.
    ``network``/``audit`` False turn a wall off (for tests of the other wall)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hivemesh-sandbox-") as tmp:
        root = Path(tmp)
        (root / "solution.py").write_text(code, encoding="utf-8")
        (root / "tests.json").write_text(json.dumps(list(tests)), encoding="utf-8")
        drop = os.geteuid() == 0 and stdlib_open_to_others()
        if drop:
            os.chown(tmp, NOBODY, NOBODY)
        events, killed = _run_child(root, limits, network, audit, drop)
    return _result(events, len(tests), killed, time.monotonic() - started)


def stdlib_open_to_others() -> bool:
    """Whether a process dropped to ``nobody`` could still import the stdlib
    (not so when Python lives under a private home, as pyenv under /root)."""
    import stat
    import sysconfig

    for name in ("stdlib", "platstdlib"):
        path = Path(sysconfig.get_paths()[name]).resolve()
        for folder in (path, *path.parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH or (folder == path and not mode & stat.S_IROTH):
                return False
    return True


def _run_child(root: Path, limits: SandboxLimits, network: bool, audit: bool,
               drop: bool) -> tuple[list[dict], str]:
    read_fd, write_fd = os.pipe()
    config = {"result_fd": write_fd, "cpu_s": limits.cpu_s, "memory_bytes": limits.memory_mb << 20,
              "file_bytes": limits.file_kb << 10, "network": network, "audit": audit, "drop_privileges": drop}
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root), "TMPDIR": str(root)}
    with open(root / "output.txt", "wb") as output:
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(CHILD), json.dumps(config)], cwd=root,
                                    env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                    pass_fds=(write_fd,), start_new_session=True)
        finally:
            os.close(write_fd)
        killed = ""
        try:
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            killed = f"wall-clock timeout ({limits.wall_s:g}s)"
        _kill_group(proc.pid)
        proc.wait()
    if not killed and proc.returncode < 0:
        killed = SIGNALS.get(-proc.returncode, f"signal {-proc.returncode}")
    return _read_events(read_fd), killed


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_events(fd: int, limit: int = 1 << 20) -> list[dict]:
    chunks, size = [], 0
    with os.fdopen(fd, "rb") as pipe:
        while size < limit:
            chunk = pipe.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    events = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _result(events: list[dict], total: int, killed: str, seconds: float) -> SandboxResult:
    ready = next((e for e in events if e.get("event") == "ready"), None)
    results: dict[int, tuple[bool, str]] = {}
    errors: list[str] = []
    for e in events:
        if e.get("event") == "load":
            errors.append(f"load: {e.get('error', '')}")
        elif e.get("event") == "test" and isinstance(e.get("index"), int) and e["index"] not in results:
            results[e["index"]] = (e.get("ok") is True, str(e.get("error", "")))
    passed = sum(ok for ok, _ in results.values())
    errors += [f"test {i}: {err}" for i, (ok, err) in sorted(results.items()) if not ok]
    if killed:
        errors.append(f"stopped: {killed}")
    if ready is None and not killed:
        errors.append("the sandbox did not start")
    return SandboxResult(passed, total, tuple(errors), str(ready.get("network", "")) if ready else "",
                         int(ready.get("uid", -1)) if ready else -1, seconds, killed)
