"""The README's first command, run as a user runs it, on the real bundled models."""

import json
import re
import subprocess
import sys

import pytest


def sections(answer: str) -> dict[str, str]:
    """``Label:\\ntext`` sections of a joined answer."""
    found = re.findall(r"^([A-Z][\w ]{0,40}):\n(.*?)(?=\n\n[A-Z][\w ]{0,40}:\n|\Z)", answer, re.S | re.M)
    return {label: text.strip() for label, text in found}


@pytest.mark.slow
def test_demo_runs_a_job_end_to_end_on_real_models():
    out = subprocess.run([sys.executable, "-m", "hivemesh", "demo", "--json"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["status"] == "done", result["error"]
    # planned at once by rules: a branch per part, joined deterministically
    plan = result["plan"]
    assert plan["planner"] == "rules" and plan["seconds"] < 2.0
    assert [s["capability"] for s in plan["subtasks"]] == ["summarize", "extract", "join"]
    # every part reaches the answer: a summary and three keywords
    parts = sections(result["answer"])
    assert list(parts) == ["Summary", "Keywords"], result["answer"]
    assert len(parts["Summary"].split()) >= 8
    keywords = [k.strip() for k in re.split(r"[,\n;]", parts["Keywords"]) if k.strip()]
    assert len(keywords) >= 3 and all(len(k.split()) <= 4 for k in keywords), parts["Keywords"]
    # two models serve different capabilities (the map the eval chose): SmolLM2 summarises,
    # Gemma extracts, a tool joins
    models = {s["capability"]: s["model"] for s in result["subtasks"]}
    assert models == {"summarize": "smollm2-135m-instruct", "extract": "gemma3-270m", "join": "joiner"}
    acc = result["accounting"]
    assert acc["mesh_tokens"] == sum(s["tokens"] for s in result["subtasks"]) > 0
    assert acc["cloud_usd"] == 0 and acc["cloud_only_usd"] > 0
