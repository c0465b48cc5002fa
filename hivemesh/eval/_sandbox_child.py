"""The sandboxed side of ``hivemesh.eval.sandbox``: stdlib only, run as
``python -I -S _sandbox_child.py CONFIG`` in a fresh temp dir.

It locks itself down before it reads the untrusted code, in this order:
a new network namespace (``unshare(CLONE_NEWNET)``, or with ``CLONE_NEWUSER``
when not root; only a downed loopback is left), privileges dropped to
``nobody`` when root and the parent found the stdlib readable by ``nobody``
(not so for a Python under /root), resource limits (CPU seconds, address space, file size,
open files, no core), and an audit hook that refuses sockets, new processes,
ctypes and writes outside the temp dir. Then it runs ``solution.py`` and each
test of ``tests.json``, writing one JSON line per event to the result pipe.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NOBODY = 65534
REFUSED_PREFIXES = ("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                    "os.forkpty", "os.system", "os.kill", "os.killpg", "pty.", "ctypes.", "urllib.",
                    "http.", "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
                    "webbrowser.", "os.startfile", "winreg.", "os.setuid", "os.setgid")
PATH_EVENTS = frozenset({"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown",
                         "os.link", "os.symlink", "os.truncate", "os.utime", "shutil.rmtree",
                         "shutil.move", "shutil.copyfile", "shutil.copytree", "os.chdir"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def isolate_network():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) == 0:
        return "netns"
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        return "userns+netns"
    return "none"


def drop_privileges():
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def apply_limits(cfg):
    cpu = int(cfg["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (cfg["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def make_hook(root):
    root = os.path.realpath(root)

    def inside(path):
        if isinstance(path, int):
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == root or real.startswith(root + os.sep)

    def hook(event, args):
        if event.startswith(REFUSED_PREFIXES):
            raise PermissionError("sandbox: %s refused" % event)
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & WRITE_FLAGS)
            if writes and not inside(path):
                raise PermissionError("sandbox: writing %r refused" % (path,))
        elif event in PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    raise PermissionError("sandbox: %s on %r refused" % (event, arg))

    return hook


def compile_trimmed(source):
    """The solution compiled; trailing lines (prose after the code) are
    dropped until it compiles, keeping the first error when none does."""
    lines = source.splitlines()
    first = None
    for end in range(len(lines), 0, -1):
        try:
            return compile("\n".join(lines[:end]), "solution.py", "exec")
        except SyntaxError as exc:
            first = first or exc
    raise first or SyntaxError("empty solution")


def main():
    cfg = json.loads(sys.argv[1])
    out = os.fdopen(cfg["result_fd"], "w", buffering=1)

    def report(**event):
        out.write(json.dumps(event) + "\n")
        out.flush()

    network = isolate_network() if cfg["network"] else "host"
    if cfg["drop_privileges"]:
        drop_privileges()
    with open("tests.json") as f:
        tests = json.load(f)
    with open("solution.py") as f:
        source = f.read()
    apply_limits(cfg)
    if cfg["audit"]:
        sys.addaudithook(make_hook(os.getcwd()))
    report(event="ready", network=network, uid=os.geteuid(), audit=bool(cfg["audit"]))
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile_trimmed(source), namespace)  # the sandbox's purpose: runs here, not in hivemesh
    except BaseException as exc:  # noqa: BLE001 - anything the solution raises is its failure
        report(event="load", error="%s: %s" % (type(exc).__name__, exc))
        return
    for index, test in enumerate(tests):
        try:
            exec(compile(test, "<test %d>" % index, "exec"), dict(namespace))
            report(event="test", index=index, ok=True)
        except BaseException as exc:  # noqa: BLE001
            report(event="test", index=index, ok=False, error="%s: %s" % (type(exc).__name__, exc))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
