"""The README's first command, run as a user runs it, on the real bundled models."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_a_job_end_to_end_on_real_models():
    out = subprocess.run([sys.executable, "-m", "hivemesh", "demo", "--json"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["status"] == "done", result["error"]
    assert len(result["answer"].strip()) > 20
    models = {s["capability"]: s["model"] for s in result["subtasks"]}
    # two models serve different capabilities: Gemma summarises, SmolLM2 extracts
    assert models == {"summarize": "gemma3-270m", "extract": "smollm2-135m-instruct"}
    assert len({s["peer_id"] for s in result["subtasks"]}) == 2
    assert result["plan"]["planner"] in ("fallback", "offline:smollm2-135m-instruct")
    acc = result["accounting"]
    assert acc["mesh_tokens"] == sum(s["tokens"] for s in result["subtasks"]) > 0
    assert acc["cloud_usd"] == 0 and acc["cloud_only_usd"] > 0
