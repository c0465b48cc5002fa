"""Checking by scoring: the pure rule, the simulated model's exact check, and the
real bundled models scoring honest outputs and liars in one prefill pass."""

import dataclasses
import random

import pytest

from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.scoring import SPOT_MIN, GREEDY, CheckPolicy, escalates, judge, policy_for, spot_positions
from hivemesh.models.simulated import SimulatedModel
from hivemesh.models.tools import load_tool


def test_judge_accepts_argmax_tokens_and_rejects_misses_and_large_gaps():
    policy = CheckPolicy(top_k=4, max_miss_share=0.1, max_mean_gap=0.5)
    assert judge([0] * 20, [0.0] * 20, policy).ok
    assert judge([0] * 19 + [3], [0.0] * 19 + [0.4], policy).ok  # in the top 4, small gap
    two_misses = judge([0] * 8 + [9, 9], [0.0] * 10, policy)
    assert not two_misses.ok and two_misses.misses == 2 and "top 4" in two_misses.reason
    far = judge([1] * 10, [0.9] * 10, policy)
    assert not far.ok and "gap" in far.reason and far.mean_gap == 0.9
    assert judge([], [], policy).ok and judge([], [], policy).tokens == 0


def test_sampled_requests_get_a_wider_policy_than_greedy_ones():
    assert policy_for(0.0) == GREEDY
    loose = policy_for(0.8)
    assert loose.top_k == 40 and loose.max_mean_gap > GREEDY.max_mean_gap


def test_a_spot_check_draws_a_share_of_the_positions_at_random():
    rng = random.Random(7)
    picked = spot_positions(128, 0.25, rng)
    assert picked is not None and len(picked) == 32 and picked == sorted(set(picked))
    assert 0 <= picked[0] and picked[-1] < 128
    assert spot_positions(128, 0.25, rng) != picked  # drawn afresh for every check
    assert len(spot_positions(40, 0.25, rng)) == SPOT_MIN  # never fewer than SPOT_MIN tokens
    assert spot_positions(SPOT_MIN, 0.25, rng) is None  # a short output is scored whole
    assert spot_positions(128, 1.0, rng) is None and spot_positions(SPOT_MIN + 1, 0.99, rng) is None
    seen = {p for _ in range(50) for p in spot_positions(64, 0.25, rng)}
    assert seen == set(range(64))  # no position is safe from the check


def test_a_spot_check_escalates_on_a_token_far_from_the_argmax():
    policy = CheckPolicy(top_k=4, max_miss_share=0.05, max_mean_gap=0.15, spot_share=0.25, escalate_gap=1.0)
    assert not escalates([0.0, 0.3, 0.0], policy)  # a near-tie
    assert escalates([0.0, 2.5, 0.0], policy)
    assert not escalates([50.0], CheckPolicy(4, 0.05, 0.15))  # a policy without spot checks never escalates


def test_a_simulated_model_checks_by_recomputing_its_reply():
    model = SimulatedModel("m", reply_words=12)
    request = CompletionRequest(prompt="what is up", max_tokens=32)
    honest = model.generate(request).text
    assert model.score(request, honest).ok
    assert model.score(request, " ".join(honest.split()[:5])).ok  # a cut generation is a prefix
    words = honest.split()
    words[3], words[7] = words[7], words[3]
    assert not model.score(request, " ".join(words)).ok  # subtly altered
    assert not model.score(request, SimulatedModel("other", reply_words=12).generate(request).text).ok
    assert not model.score(request, honest + " extra").ok
    other_prompt = CompletionRequest(prompt="what is down", max_tokens=32)
    assert not model.score(other_prompt, honest).ok  # the answer to another prompt


def test_a_tool_checks_exactly():
    calc = load_tool("math")
    request = CompletionRequest(prompt="What is 12 * 12?")
    answer = calc.generate(request).text
    assert calc.score(request, answer).ok and not calc.score(request, "145").ok


PROMPTS = ["What is the capital of Japan? Answer in one word.",
           "Write a Python function that returns the largest of three numbers.",
           "List three fruits that are red."]


WHOLE = dataclasses.replace(GREEDY, spot_share=1.0)  # every position: the check's own power, no draw


def chat(text, max_tokens=24):
    return CompletionRequest(messages=(ChatMessage("user", text),), max_tokens=max_tokens)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemma", "smollm2"])
def test_a_real_model_accepts_its_own_greedy_answers_and_rejects_liars(name, request):
    model = request.getfixturevalue(name)
    other = request.getfixturevalue("smollm2" if name == "gemma" else "gemma")
    for prompt in PROMPTS:
        req = chat(prompt)
        honest = model.generate(req).text
        verdict = model.score(req, honest, WHOLE)
        assert verdict.ok, (prompt, honest, verdict)
        assert verdict.tokens > 0 and verdict.mean_gap < 0.2
        assert model.score(req, honest).ok  # the shipped spot check
        assert not model.score(req, "river green seven house market quickly under bright paper window", WHOLE).ok
        lie = other.generate(req).text
        if lie.strip() != honest.strip():
            assert not model.score(req, lie, WHOLE).ok, (prompt, lie)


@pytest.mark.slow
def test_a_real_model_catches_swapped_words(gemma):
    req = CompletionRequest(prompt="The history of the printing press begins", max_tokens=32)
    words = gemma.generate(req).text.split(" ")
    assert len(words) > 8
    words[2], words[6] = words[6], words[2]
    verdict = gemma.score(req, " ".join(words), WHOLE)
    assert not verdict.ok and verdict.misses >= 1
