"""A fork server for peer processes: ``python -m hivemesh.simulations.zygote``.

A peer process spends most of its memory on code: ``import libp2p`` alone is
~78 MB of RSS, and a hundred peers each importing it hold a hundred copies.
The zygote imports py-libp2p, trio and the peer's code once (``PRELOAD``),
freezes the garbage collector's view of those objects (``gc.freeze``: a
collection would otherwise write to every one of them and copy its page)
and then forks one child per peer, so the imported pages stay shared
copy-on-write. Each child is a real OS process (a ``kill -9`` kills it
alone) running ``peerproc.main`` in a fresh session, with its stdout and
stderr in files. No trio loop and no thread runs in the zygote: a fork
copies only the calling thread.

Protocol, one JSON line each way: the zygote says ``{"ready": true}`` once
its imports are done; then ``{"argv": [...], "stdout": PATH, "stderr": PATH}``
is answered ``{"pid": N}`` (or ``{"error": "..."}``). Children are reaped
by the kernel (SIGCHLD ignored), so a dead child leaves no zombie and its
liveness is its pid's.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
import threading
from typing import Any

#: what a running worker or gateway peer imports (``peerproc.serve`` and what py-libp2p
#: imports only once a host runs: noise, yamux, gossipsub, identify, the TCP transport)
PRELOAD = (
    "trio", "libp2p", "libp2p.pubsub.gossipsub", "libp2p.pubsub.pubsub", "libp2p.security.noise.transport",
    "libp2p.stream_muxer.yamux.yamux", "libp2p.identity.identify", "libp2p.transport.tcp.tcp",
    "msgpack", "psutil",
    "hivemesh.simulations.peerproc", "hivemesh.peer.daemon", "hivemesh.peer.assemble",
    "hivemesh.planner.offline", "hivemesh.simulations.gossipmeter", "hivemesh.simulations.netdelay",
    "hivemesh.simulations.workload", "hivemesh.config", "hivemesh.gateway.store", "hivemesh.worker.worker",
)


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules``; returns those that failed (optional ones may be absent)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def spawn(argv: list[str], stdout: str, stderr: str) -> int:
    """Fork a peer running ``peerproc.main(argv)``; returns its pid (in the zygote)."""
    if threading.active_count() > 1:
        raise RuntimeError(f"{threading.active_count()} threads in the zygote: a fork would copy one")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _become_peer(stdout, stderr)
        from hivemesh.simulations import peerproc

        code = peerproc.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001  (the child must never return into the zygote's loop)
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    raise AssertionError("unreachable")


def _become_peer(stdout: str, stderr: str) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.unfreeze()  # its own objects are collected as usual; the frozen ones stay put
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def handle(line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
        argv, stdout, stderr = request["argv"], request["stdout"], request["stderr"]
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            raise ValueError("argv must be a list of strings")
        return {"pid": spawn(argv, str(stdout), str(stderr))}
    except (ValueError, KeyError, TypeError, OSError, RuntimeError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our children
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us (SIGTERM or our stdin closing)
    missing = preload()
    gc.collect()
    gc.freeze()
    reply = sys.stdout
    print(json.dumps({"ready": True, "missing": missing}), file=reply, flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(handle(line)), file=reply, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
