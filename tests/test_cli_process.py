"""The CLI as a user runs it: real processes, real kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

HIVEMESH = [sys.executable, "-m", "hivemesh"]
INTERVAL = "0.5"
SIM = ["--model", "general,summarize=sim:simmy"]  # fast start: no GGUF load in process tests


def _peer_id():
    from hivemesh.mesh.identity import generate, peer_id_of

    return peer_id_of(generate())


PEER = _peer_id()


def spawn(*args, tmp_path, name):
    env = dict(os.environ, HIVEMESH_LOG_LEVEL="warning")
    return subprocess.Popen(
        HIVEMESH + list(args) + ["--identity", str(tmp_path / f"{name}.key")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def first_line(proc, timeout=20.0):
    line = proc.stdout.readline()  # the multiaddr, printed as soon as the node listens
    assert line.startswith("/ip4/127.0.0.1/tcp/"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return line.strip()


def status(bootstrap, timeout=20):
    out = subprocess.run(
        HIVEMESH + ["status", "--bootstrap", bootstrap, "--json", "--advert-interval", INTERVAL],
        capture_output=True, text=True, timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def procs():
    running = []
    yield running
    for p in running:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in running:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def test_bootstrap_peers_status_and_kill_9(tmp_path, procs):
    boot = spawn("bootstrap", tmp_path=tmp_path, name="boot")
    procs.append(boot)
    addr = first_line(boot)
    assert "/p2p/12D3KooW" in addr
    peers = [spawn("peer", "--bootstrap", addr, "--advert-interval", INTERVAL, *SIM, tmp_path=tmp_path, name=f"p{i}")
             for i in range(3)]
    procs.extend(peers)
    ids = [first_line(p).rsplit("/", 1)[1] for p in peers]

    deadline = time.monotonic() + 30
    while True:
        snap = status(addr)
        if {p["peer_id"] for p in snap["peers"]} == set(ids):
            break
        assert time.monotonic() < deadline, snap
    assert all(p["roles"] == ["worker"] for p in snap["peers"])
    assert all(p["models"][0]["name"] == "simmy" for p in snap["peers"])
    assert all(p["models"][0]["capabilities"] == ["general", "summarize"] for p in snap["peers"])

    peers[0].send_signal(signal.SIGKILL)
    peers[0].wait()
    time.sleep(3 * float(INTERVAL))
    snap = status(addr)
    assert {p["peer_id"] for p in snap["peers"]} == set(ids[1:])


def test_peer_restart_keeps_its_id(tmp_path, procs):
    boot = spawn("bootstrap", tmp_path=tmp_path, name="boot")
    procs.append(boot)
    addr = first_line(boot)
    p = spawn("peer", "--bootstrap", addr, *SIM, tmp_path=tmp_path, name="same")
    procs.append(p)
    first = first_line(p).rsplit("/", 1)[1]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    p2 = spawn("peer", "--bootstrap", addr, *SIM, tmp_path=tmp_path, name="same")
    procs.append(p2)
    assert first_line(p2).rsplit("/", 1)[1] == first
    assert oct(os.stat(tmp_path / "same.key").st_mode & 0o777) == "0o600"


def test_clear_errors_and_exit_codes(tmp_path):
    out = subprocess.run(HIVEMESH + ["peer", "--bootstrap", "/ip4/127.0.0.1/tcp/1"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "lacks its peer id" in out.stderr
    bad = tmp_path / "bad.key"
    bad.write_text("nope")
    bad.chmod(0o600)
    out = subprocess.run(HIVEMESH + ["bootstrap", "--identity", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "corrupt" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(HIVEMESH + ["peer", "--bootstrap", f"/ip4/127.0.0.1/tcp/9/p2p/{PEER}",
                                     "--model", "general=/nonexistent/model.gguf", "--identity", str(tmp_path / "k")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "/nonexistent/model.gguf" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(HIVEMESH + ["status", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/x"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_status_with_unreachable_bootstrap_says_so(tmp_path):
    from hivemesh.mesh.identity import generate, peer_id_of

    addr = f"/ip4/127.0.0.1/tcp/9/p2p/{peer_id_of(generate())}"
    out = subprocess.run(HIVEMESH + ["status", "--bootstrap", addr, "--timeout", "3"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3 and "could not reach any bootstrap" in out.stderr, out.stderr


def test_gateway_peer_and_submit_as_processes(tmp_path, procs):
    from tests.redis_server import throwaway_redis

    with throwaway_redis() as server:
        boot = spawn("bootstrap", tmp_path=tmp_path, name="boot")
        procs.append(boot)
        addr = first_line(boot)
        common = ["--bootstrap", addr, "--advert-interval", INTERVAL]
        gw = spawn("peer", *common, "--gateway", "--redis", server.url, "--planner-model", "none",
                   "--model", "general=sim:gw", tmp_path=tmp_path, name="gw")
        worker = spawn("peer", *common, "--model", "summarize,extract=sim:worker?echo=1",
                       tmp_path=tmp_path, name="w")
        procs.extend([gw, worker])
        first_line(gw), first_line(worker)
        out = subprocess.run(
            HIVEMESH + ["submit", *common, "--json", "--job-id", "cli-1",
                        "Summarise this paragraph and list three keywords.", "--input", str(_doc(tmp_path))],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "done" and result["job_id"] == "cli-1"
        assert result["plan"]["planner"] == "rules"
        assert {s["capability"] for s in result["subtasks"]} == {"summarize", "extract", "join"}
        assert all(s["peer_id"] and (s["tokens"] > 0) == (s["capability"] != "join") for s in result["subtasks"])
        # both parts reach the answer, joined under their labels by the join tool (no tokens)
        assert result["answer"].startswith("Summary:\n[worker ") and "\n\nKeywords:\n[worker " in result["answer"]
        acc = result["accounting"]
        assert acc["mesh_tokens"] > 0 and acc["cloud_tokens"] == 0 and acc["cloud_only_usd"] > 0


def test_gateway_with_redis_down_is_a_clear_error_at_start(tmp_path):
    from tests.redis_server import free_port

    out = subprocess.run(
        HIVEMESH + ["peer", "--bootstrap", f"/ip4/127.0.0.1/tcp/9/p2p/{PEER}", "--gateway",
                    "--redis", f"redis://127.0.0.1:{free_port()}/0", "--identity", str(tmp_path / "k"),
                    "--model", "general=sim:x"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 3 and "unavailable" in out.stderr and "Traceback" not in out.stderr, out.stderr


def _doc(tmp_path):
    path = tmp_path / "bees.txt"
    path.write_text("Honey bees live in colonies. Workers gather nectar; drones mate; the queen lays eggs.")
    return path
