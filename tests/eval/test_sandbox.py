"""The code sandbox: network, runaway time and memory refused; right code passes."""

import socket
import threading
import time

import pytest

from hivemesh.eval.checks import CodeCheck
from hivemesh.eval.codecheck import extract_code, score_code
from hivemesh.eval.sandbox import SandboxLimits, run_tests

FAST = SandboxLimits(cpu_s=1, wall_s=4, memory_mb=256)


def test_correct_solution_passes_and_wrong_one_fails() -> None:
    code = "def add(a, b):\n    return a + b\n"
    assert run_tests(code, ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]).ok
    wrong = run_tests("def add(a, b):\n    return a - b\n", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
    assert (wrong.passed, wrong.total, wrong.ok) == (1, 2, False)
    assert wrong.errors and "AssertionError" in wrong.errors[0]


@pytest.fixture
def listener():  # type: ignore[no-untyped-def]
    """A listening loopback socket that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


CONNECT = ("def reach(port):\n    import socket\n    s = socket.create_connection(('127.0.0.1', port), timeout=2)\n"
           "    s.sendall(b'hi')\n    return True\n")


@pytest.mark.parametrize("walls", [{}, {"audit": False}, {"network": False}], ids=["both", "netns-only", "hook-only"])
def test_network_is_refused_by_each_wall(listener, walls) -> None:  # type: ignore[no-untyped-def]
    port, accepted = listener
    # the same code reaches the listener when both walls are off: the test can fail
    open_result = run_tests(CONNECT, [f"assert reach({port})"], FAST, network=False, audit=False)
    assert open_result.ok
    time.sleep(0.3)
    assert len(accepted) == 1
    result = run_tests(CONNECT, [f"assert reach({port})"], FAST, **walls)
    if walls.get("audit") is False and result.network == "none":
        pytest.skip("no network namespace can be made here (neither root nor user namespaces)")
    assert not result.ok
    assert any("Network is unreachable" in e or "refused" in e for e in result.errors), result.errors
    time.sleep(0.3)
    assert len(accepted) == 1  # nobody else connected


def test_the_network_namespace_is_in_place() -> None:
    result = run_tests("x = 1", ["assert x == 1"], FAST)
    assert result.ok and result.network in ("netns", "userns+netns")


def test_infinite_loop_is_killed_by_the_cpu_limit() -> None:
    started = time.monotonic()
    result = run_tests("def spin():\n    while True:\n        pass\n", ["assert True", "spin()"], FAST)
    assert time.monotonic() - started < FAST.wall_s + 2
    assert (result.passed, result.ok) == (1, False)
    assert result.killed in ("CPU time limit", f"wall-clock timeout ({FAST.wall_s:g}s)")


def test_sleeping_forever_is_killed_by_the_wall_clock() -> None:
    started = time.monotonic()
    result = run_tests("import time\n", ["time.sleep(60)"], SandboxLimits(cpu_s=5, wall_s=1.5))
    assert time.monotonic() - started < 4
    assert result.killed.startswith("wall-clock timeout") and not result.ok


def test_huge_allocation_is_refused() -> None:
    result = run_tests("def grab():\n    return bytearray(8 * 1024 ** 3)\n", ["grab()"], FAST)
    assert not result.ok and any("MemoryError" in e for e in result.errors)


def test_writes_outside_the_temp_dir_and_new_processes_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "written"
    code = f"def write():\n    open({str(target)!r}, 'w').write('x')\n"
    assert not run_tests(code, ["write()"], FAST).ok and not target.exists()
    assert run_tests("open('mine.txt', 'w').write('ok')", ["assert open('mine.txt').read() == 'ok'"], FAST).ok
    spawn = run_tests("import subprocess\n", ["subprocess.run(['true'])"], FAST)
    assert not spawn.ok and any("refused" in e for e in spawn.errors)


def test_prose_after_the_code_is_trimmed_and_syntax_errors_fail() -> None:
    answer = "Here it is:\n```python\ndef double(x):\n    return 2 * x\n```\nThis doubles x."
    assert extract_code(answer, "double") == "def double(x):\n    return 2 * x"
    assert run_tests("def double(x):\n    return 2 * x\n\nThis function doubles x.", ["assert double(2) == 4"]).ok
    assert not run_tests("def double(x) return 2x", ["assert double(2) == 4"]).ok


def test_extract_code_prefers_the_block_defining_the_entry() -> None:
    answer = "```\nprint(double(3))\n```\nand\n```py\ndef double(x):\n    return x * 2\n```"
    assert extract_code(answer, "double").startswith("def double")
    assert extract_code("Sure.\ndef double(x):\n    return 2 * x", "double").startswith("def double")
    assert extract_code("```python\ndef double(x):\n    return 2 * x", "double").startswith("def double")


def test_score_code_part() -> None:
    check = CodeCheck("double", ("assert double(2) == 4", "assert double(0) == 0"), "def double(x): return 2*x",
                      "def double(x): return x")
    right = score_code("f", check, "```python\ndef double(x):\n    return 2 * x\n```")
    assert right.satisfied and right.score == 1.0
    half = score_code("f", check, "def double(x):\n    return x + 2")
    assert not half.satisfied and half.score == 0.5
    assert score_code("f", check, "I cannot write code.").score == 0.0
