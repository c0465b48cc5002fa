"""CPU by role: a process below the harness is charged to its role."""

import subprocess
import sys

from hivemesh.simulations.cpuroles import ROLES, CpuMark, per_job_ms

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_a_busy_peer_process_is_charged_to_its_role_and_divided_by_the_jobs():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()\n" + BURN],
                             stdin=subprocess.PIPE)
    try:
        roles = {child.pid: "worker"}
        mark = CpuMark(roles)
        child.stdin.close()  # it burns 0.3 s of CPU now, then ends
        spent = None
        while child.poll() is None:
            spent = mark.spent(roles)  # read while it lives: an ended process is not below us anymore
    finally:
        child.wait()
    assert spent is not None and set(spent) == set(ROLES)
    assert spent["worker"] >= 0.2
    assert spent["gateway"] == spent["redis"] == 0.0
    ms = per_job_ms(spent, 4)
    assert ms["worker"] == round(1000 * spent["worker"] / 4, 2)
    assert ms["total"] >= ms["worker"] + ms["harness"] - 0.02
    assert per_job_ms(spent, 0) is None and per_job_ms({}, 3) is None
