"""CPU by role: a process below the harness is charged to its role."""

import json
import subprocess
import sys

from hivemesh.simulations.cpuroles import ROLES, per_job_ms

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
#: reads a line, burns 0.3 s of CPU, says so, then lives until its stdin closes (read while it lives:
#: an ended process is not below us anymore, and one ending may not be read at all)
CHILD = "import sys\nsys.stdin.readline()\n" + BURN + "print('burnt', flush=True)\nsys.stdin.read()\n"
#: the harness, in a process of its own: the test process may have children of its own (the suite's
#: throwaway redis-server), which would be charged too
HARNESS = f"""
import json, subprocess, sys
from hivemesh.simulations.cpuroles import CpuMark
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    roles = {{child.pid: "worker"}}
    mark = CpuMark(roles)
    child.stdin.write("go\\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "burnt"
    print(json.dumps(mark.spent(roles)))
finally:
    child.stdin.close()
    child.wait()
"""


def test_a_busy_peer_process_is_charged_to_its_role_and_divided_by_the_jobs():
    spent = json.loads(subprocess.run([sys.executable, "-c", HARNESS], capture_output=True, text=True,
                                      check=True, timeout=60).stdout)
    assert spent is not None and set(spent) == set(ROLES)
    assert spent["worker"] >= 0.2
    assert spent["gateway"] == spent["redis"] == 0.0
    ms = per_job_ms(spent, 4)
    assert ms["worker"] == round(1000 * spent["worker"] / 4, 2)
    assert ms["total"] >= ms["worker"] + ms["harness"] - 0.02
    assert per_job_ms(spent, 0) is None and per_job_ms({}, 3) is None
