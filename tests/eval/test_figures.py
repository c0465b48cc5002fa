"""A job's result quotes what the published eval measured on jobs like it."""

from __future__ import annotations

import json

from hivemesh.eval import figures
from hivemesh.planner.plan import Plan, Subtask

SUMMARY = {"tasks": 68, "systems": {
    "mesh": {"score": 0.5, "by_capability": {"multi": 0.56, "summarize": 0.28, "math": 1.0}},
    "single": {"score": 0.02, "by_capability": {"multi": 0.03, "summarize": 0.09, "math": 0.0}},
    "cloud": None, "mesh+claude": None}}


def test_written_figures_are_quoted_for_the_kind_of_job(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "figures.json"
    figures.write(path, SUMMARY, "hivemesh eval --embedded")
    data = json.loads(path.read_text())
    joined = figures.for_plan({"summarize", "extract", "join"}, joined=True, data=data)
    assert joined == figures.Figures("hivemesh eval --embedded", "multi", 0.56, 0.03, None)
    one = figures.for_plan({"math"}, joined=False, data=data)
    assert (one.capability, one.mesh, one.single) == ("math", 1.0, 0.0)
    other = figures.for_plan({"general"}, joined=False, data=data)
    assert (other.capability, other.mesh) == ("all", 0.5)
    assert figures.for_plan({"math"}, joined=False, data={}) is None


def test_a_result_carries_the_quality_of_its_kind_of_job() -> None:
    from hivemesh.gateway.jobrun import quality_of

    plan = Plan((Subtask("a", "summarize", "x"), Subtask("b", "extract", "y"),
                 Subtask("j", "join", "{{out:a}}{{out:b}}", ("a", "b"))), "j", "rules")
    quality = quality_of(plan)
    shipped = figures._load()  # the package ships the README's run (hivemesh/eval/figures.json)
    assert shipped is not None
    assert quality.capability == "multi" and quality.source == shipped["command"]
    assert quality.mesh == shipped["systems"]["mesh"]["by_capability"]["multi"]
    assert quality.single == shipped["systems"]["single"]["by_capability"]["multi"]
    assert quality.cloud is None  # Claude alone was not measured in that run: nothing invented
