"""The numbers of a run, its table and its files."""

import csv
import io
import json

from hivemesh.eval.command import Progress
from hivemesh.eval.files import write_all
from hivemesh.eval.report import format_table, percentile, summarize
from hivemesh.eval.runner import Result
from hivemesh.eval.scorers import PartScore, TaskScore
from hivemesh.eval.suite import load_suite
from hivemesh.eval.systems import Answer

TASKS = {t.id: t for t in load_suite()}


def result(task_id, system, scores, seconds=1.0, addressed=None, **answer):  # type: ignore[no-untyped-def]
    task = TASKS[task_id]
    addressed = addressed or [s > 0 for s in scores]
    parts = tuple(PartScore(p.name, p.check.kind, s, s >= 1.0, "", a)
                  for p, s, a in zip(task.parts, scores, addressed))
    return Result(task, system, Answer(answer.pop("text", "x"), seconds, **answer), TaskScore(parts))


RESULTS = [
    result("math-add-divide", "mesh", [1.0], 2.0, mesh_tokens=30),
    result("multi-sum-city", "mesh", [1.0, 0.0], 4.0, addressed=[True, True], mesh_tokens=70),
    result("multi-review-three", "mesh", [0.5, 1.0, 1.0], 6.0, mesh_tokens=90),
    result("math-add-divide", "cloud", [1.0], 1.0, cloud_input_tokens=50, cloud_output_tokens=10, usd=0.0003),
    result("multi-sum-city", "cloud", [1.0, 1.0], 1.5, cloud_input_tokens=80, cloud_output_tokens=20, usd=0.0005),
    result("multi-review-three", "cloud", [0.0, 0.0, 0.0], 3.0, error="timed out after 3s", text=""),
]


def test_summary_shape_and_numbers() -> None:
    summary = summarize(RESULTS, ["mesh", "cloud"], {"single": "not requested", "mesh+claude": "no key"}, 3)
    assert summary["tasks"] == 3 and set(summary["systems"]) == {"mesh", "single", "cloud", "mesh+claude"}
    assert summary["systems"]["single"] is None and summary["systems"]["mesh+claude"] is None
    mesh, cloud = summary["systems"]["mesh"], summary["systems"]["cloud"]
    assert mesh["score"] == round((1.0 + 0.5 + 2.5 / 3) / 3, 4)
    assert mesh["coverage"] == 1.0  # every multi part answered (one of them wrongly)
    assert mesh["multi_parts_satisfied"] == round(3 / 5, 4)  # and passed: 1 of 2, then 2 of 3
    assert mesh["by_capability"] == {"math": 1.0, "multi": round((0.5 + 2.5 / 3) / 2, 4)}
    assert (mesh["cloud_tokens"], mesh["mesh_tokens"], mesh["usd"]) == (0, 190, 0)
    assert mesh["latency_s"] == {"p50": 4.0, "p95": 5.8}
    assert cloud["cloud_tokens"] == 160 and cloud["usd"] == 0.0008 and cloud["errors"] == 1
    assert cloud["coverage"] == round(2 / 5, 4) == cloud["multi_parts_satisfied"]
    json.dumps(summary)  # JSON-able


def test_coverage_is_null_without_multi_part_tasks() -> None:
    summary = summarize(RESULTS[:1], ["mesh"], {}, 1)
    assert summary["systems"]["mesh"]["coverage"] is None


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_table_names_systems_and_skips() -> None:
    table = format_table(summarize(RESULTS, ["mesh", "cloud"], {"mesh+claude": "ANTHROPIC_API_KEY is not set"}, 3))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["system", "score", "cover"]
    assert lines[1].startswith("mesh ") and lines[2].startswith("cloud ")
    assert "skipped mesh+claude: ANTHROPIC_API_KEY is not set" in table


def test_files_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    summary = summarize(RESULTS, ["mesh", "cloud"], {}, 3)
    notes = write_all(tmp_path, summary, RESULTS, {"command": "hivemesh eval"})
    assert notes == []
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["systems"] == summary["systems"] and len(data["results"]) == 6
    assert data["results"][1]["part_scores"][1] == {"name": "largest_city", "kind": "contains", "score": 0.0,
                                                    "satisfied": False, "addressed": True, "segment": ""}
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 6 and rows[5]["error"] == "timed out after 3s" and rows[1]["satisfied_parts"] == "1"
    assert (tmp_path / "eval.png").stat().st_size > 1000


def test_progress_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress(stream)
    bar.start(2, ["mesh"])
    bar.update(RESULTS[0])
    bar.update(RESULTS[5])
    lines = stream.getvalue().splitlines()
    assert lines[0] == "eval: 2 answers to get (mesh)"
    assert "1/2" in lines[1] and "math-add-divide" in lines[1] and "1.00" in lines[1]
    assert "2/2" in lines[2] and "error" in lines[2]
