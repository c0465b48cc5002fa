"""The liars scenario's pieces without a mesh: every kind of liar is caught by
the honest model's check, the occasional liar lies about a third of the
time, and the settings say what is wrong."""

import os

import pytest

from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.simulated import SimulatedModel
from hivemesh.simulations.errors import SimConfigError
from hivemesh.simulations.liars import KINDS, Lies, LyingModel, kind_of
from hivemesh.simulations.settings import SimSettings, resolve
from hivemesh.worker.pipewire import digest


def request(i: int) -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage("user", f"Stage 1: job {i}"),), max_tokens=64)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "sometimes"])
def test_every_lie_fails_the_honest_check_and_is_recorded(kind):
    honest = SimulatedModel("sim-summarize", reply_words=12)
    lies = Lies()
    liar = LyingModel(honest, kind, lies, seed=3)
    assert liar.model_hash == honest.model_hash  # it claims the honest weights
    for i in range(20):
        text = liar.generate(request(i)).text
        assert text != honest.generate(request(i)).text
        assert digest(text) in lies.digests
        verdict = honest.score(request(i), text)
        assert not verdict.ok and verdict.misses >= 1
        assert liar.score(request(i), honest.generate(request(i)).text).ok  # it checks others honestly
    assert lies.made == 20


def test_the_occasional_liar_lies_about_a_third_of_the_time():
    honest = SimulatedModel("sim-analysis", reply_words=12)
    lies = Lies()
    liar = LyingModel(honest, "sometimes", lies, seed=5)
    wrong = sum(not honest.score(request(i), liar.generate(request(i)).text).ok for i in range(300))
    assert wrong == lies.made and 70 <= wrong <= 130


def test_liar_slots_and_kinds():
    assert [kind_of(s, 2) for s in range(4)] == ["model", "random", "", ""]
    assert [kind_of(s, 5) for s in range(6)] == ["model", "random", "subtle", "sometimes", "model", ""]


def test_liars_settings():
    assert resolve(SimSettings(scenario="liars")).liars == 2
    assert resolve(SimSettings()).liars == 0
    for bad, hint in [(dict(scenario="liars", liars=7), "--liars"), (dict(liars=1), "--scenario liars"),
                      (dict(scenario="liars", processes=True), "in-process"),
                      (dict(scenario="liars", check_share=1.5), "--check-share")]:
        with pytest.raises(SimConfigError, match=hint):
            resolve(SimSettings(**bad))


def test_model_of_two_liars_among_eight_workers_meets_the_goals():
    """The decision logic at scale, no network: every liar banned within 20 of
    its outputs, no honest worker banned, no wrong answer, few checks once trusted."""
    from hivemesh.simulations.liars_model import Model

    r = Model(workers=8, liars=2, jobs=400, seed=2, kinds_of_liars=("subtle", "sometimes")).run()
    v = r["verification"]
    assert r["jobs"] == {"right": 400}
    assert v["liars_banned"] == 2 and all(n <= 20 for n in v["liar_outputs_before_ban"].values())
    assert v["honest_banned"] == 0 and v["honest_subtasks_checked"] >= 100
    assert v["checks_failed"] == v["lies_made"] >= 3  # every lie made was caught
    assert v["wrong_answers_delivered"] == 0
    assert v["checked_share_trusted"] < 0.1


def test_model_of_an_occasional_liar_with_a_single_checker_delivers_no_wrong_answer():
    """One liar and one honest worker on the same weights: no third opinion, so
    no ban, but each unconfirmed rejection keeps the liar under full checks (it
    used to earn trust between its lies: 149-159 of 400 answers wrong)."""
    from hivemesh.simulations.liars_model import Model

    r = Model(workers=2, liars=1, jobs=400, seed=1, kinds_of_liars=("sometimes",)).run()
    v = r["verification"]
    assert v["lies_made"] >= 100 and v["wrong_answers_delivered"] == 0 and v["honest_banned"] == 0
    assert r["jobs"].get("right", 0) >= 395

@pytest.mark.skipif(not os.environ.get("HIVEMESH_LIVE_LIARS"),
                    reason="issue 14 (open): one liar of two stays unbanned in about 1 of 3 runs of 20 jobs "
                           "(it got too few stages); HIVEMESH_LIVE_LIARS=1 runs it")
async def test_liars_scenario_on_real_peers(tmp_path):
    """A small run on real peers in one process: 8 workers, 2 of them liars, 1 gateway."""
    from hivemesh.simulations.harness import run_simulation

    report = await run_simulation(SimSettings(scenario="liars", peers=9, gateways=1, jobs=20, rate=1.0, seed=1,
                                              out=tmp_path, plots=False))
    counts = report["jobs"]
    assert counts["lost"] == 0 and counts["duplicated"] == 0 and counts["completed"] == 20, (counts, report["failures"])
    v = report["verification"]
    assert set(v) >= {"liars", "liars_banned", "honest_banned", "subtasks_checked", "checks_failed",
                      "wrong_answers_delivered", "check_cost_share"}
    assert v["liars"] == 2 and v["honest_banned"] == 0
    assert v["liars_banned"] == 2 and v["liar_outputs_before_ban_max"] <= 20
    assert v["lies_made"] >= 1 and v["checks_failed"] >= 1 and v["subtasks_checked"] >= 20
    assert v["wrong_answers_delivered"] == 0  # every liar is new here: each of its outputs was checked
