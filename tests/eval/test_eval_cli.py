"""``hivemesh eval`` as a user runs it."""

import json
import os
import subprocess
import sys

import pytest

from hivemesh import cli
from tests.fake_anthropic import FakeAnthropic, Planner, scripted, text_reply

SYSTEM_KEYS = {"score", "coverage", "by_capability", "cloud_tokens", "mesh_tokens", "usd", "latency_s"}


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_unknown_system_is_a_config_error(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["eval", "--systems", "mesh,oracle", "--out", str(tmp_path)]) == 2
    assert "unknown system(s) oracle" in capsys.readouterr().err


def test_only_cloud_without_a_key_has_nothing_to_run(capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert cli.main(["eval", "--systems", "cloud", "--out", str(tmp_path)]) == 2
    assert "no system can run (cloud: ANTHROPIC_API_KEY is not set)" in capsys.readouterr().err


def test_cloud_only_run_through_the_fake_api(capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeAnthropic(scripted(text_reply("Answer: 233.43", usage=(40, 8)))) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        code = cli.main(["eval", "--systems", "cloud", "--capability", "math", "--limit", "3", "--json",
                         "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = last_json(out.out)
    assert summary["tasks"] == 3 and len(api.requests) == 3
    cloud = summary["systems"]["cloud"]
    assert SYSTEM_KEYS <= set(cloud) and cloud["cloud_tokens"] == 3 * 48 and cloud["usd"] > 0
    assert cloud["by_capability"]["math"] == pytest.approx(1 / 3, abs=1e-3)  # only the first task's answer
    assert summary["systems"]["mesh"] is None and summary["skipped"]["mesh"] == "not requested"
    assert {p.name for p in tmp_path.iterdir()} >= {"eval.json", "results.csv", "eval.png"}
    assert "3/3" in out.err  # the progress bar


def run_eval(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hivemesh", "eval", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
def test_embedded_eval_limit_5_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    out = run_eval(["--limit", "5", "--embedded", "--json", "--out", str(tmp_path)], env, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = last_json(out.stdout)
    assert summary["tasks"] == 5
    assert summary["systems"]["cloud"] is None and summary["systems"]["mesh+claude"] is None
    assert summary["skipped"]["cloud"] == "ANTHROPIC_API_KEY is not set"
    for name in ("mesh", "single"):
        s = summary["systems"][name]
        assert SYSTEM_KEYS <= set(s), name
        assert 0 <= s["score"] <= 1 and s["coverage"] is None  # the first 5 tasks are single-part
        assert set(s["by_capability"]) == {"summarize", "extract", "math", "word_problems", "code"}
        assert all(0 <= v <= 1 for v in s["by_capability"].values())
        assert s["cloud_tokens"] == 0 and s["usd"] == 0 and s["mesh_tokens"] > 0
        assert 0 < s["latency_s"]["p50"] <= s["latency_s"]["p95"] < 120
        assert s["errors"] == 0, name
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 10


@pytest.mark.slow
def test_mesh_claude_and_cloud_through_the_fake_api(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeAnthropic(Planner(answer="Summary: a short answer from Claude.")) as api:
        env = dict(os.environ, ANTHROPIC_API_KEY="sk-test", ANTHROPIC_BASE_URL=api.url)
        out = run_eval(["--systems", "mesh+claude,cloud", "--capability", "multi", "--limit", "2", "--json",
                        "--out", str(tmp_path)], env, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = last_json(out.stdout)
    claude_mesh, cloud = summary["systems"]["mesh+claude"], summary["systems"]["cloud"]
    assert summary["systems"]["mesh"] is None and summary["systems"]["single"] is None
    assert claude_mesh["cloud_tokens"] > 0 and claude_mesh["usd"] > 0 and claude_mesh["mesh_tokens"] > 0
    assert cloud["cloud_tokens"] > 0 and cloud["mesh_tokens"] == 0 and claude_mesh["coverage"] is not None
    plans = [r for r in api.requests if r.get("tool_choice", {}).get("name") == "submit_plan"]
    assert len(plans) >= 2  # each task was planned by "Claude"


@pytest.mark.slow
def test_mesh_model_runs_a_mesh_of_that_one_model_beside_the_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--mesh-model`` adds a mesh whose workers all serve one model: the runs
    that choose the default capability -> model map."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    out = run_eval(["--systems", "mesh", "--mesh-model", "smollm2-135m-instruct", "--capability", "classify",
                    "--limit", "2", "--embedded", "--json", "--out", str(tmp_path)], env, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    systems = last_json(out.stdout)["systems"]
    one = systems["mesh:smollm2-135m-instruct"]
    assert set(systems) >= {"mesh", "mesh:smollm2-135m-instruct"}
    assert set(one["by_capability"]) == {"classify"} and one["errors"] == 0 and one["mesh_tokens"] > 0
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert sum(",mesh:smollm2-135m-instruct," in row for row in rows) == 2
