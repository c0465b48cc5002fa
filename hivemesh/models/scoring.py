"""Checking a claimed output by scoring it: the verdict, and the rule that gives it. Pure.

A checker runs the same weights (by hash) over prompt + claimed output in one
prefill pass and reads, for every claimed token, its rank among the model's
next-token logits (0: the argmax) and its gap to the argmax in log-probability.
``judge`` turns those into a verdict with a ``CheckPolicy``; ``policy_for``
picks the calibrated policy for the request's sampling (``bench/calibrate.py``
measured the figures on honest runs and on liars; README "Security model").

Greedy generation (temperature 0, what pipeline stages use) should give rank
0 at every position; prefill and token-by-token decoding take other numeric
paths, so near-ties may flip, and re-tokenising the text may split it
otherwise than the model did: a small share of misses is allowed. Seeded
sampling (temperature T > 0) picks from llama.cpp's top 40 after a min-p of
0.05, so every honest token ranks under 40 and its gap is at most T ln 20;
the mean gap then separates honest text from text the model would not write.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

SAMPLER_TOP_K = 40  # llama-cpp-python's defaults, which the workers sample with
SAMPLER_MIN_P = 0.05


@dataclass(frozen=True)
class CheckPolicy:
    top_k: int  # a claimed token "agrees" when it ranks below this
    max_miss_share: float  # share of claimed tokens allowed to rank top_k or worse
    max_mean_gap: float  # mean log-probability gap to the argmax, per token
    spot_share: float = 1.0  # share of claimed tokens scored, at positions the checker draws; 1.0: all
    escalate_gap: float = math.inf  # a spot-checked token this far from the argmax: score them all


@dataclass(frozen=True)
class CheckVerdict:
    ok: bool
    tokens: int  # claimed tokens scored
    misses: int  # claimed tokens outside the top-k
    mean_gap: float
    max_gap: float
    reason: str  # "" when ok; else why
    seconds: float = 0.0


# calibrated by bench/calibrate.py (figures in the README): honest greedy outputs
# of both bundled models had no token outside the top 4 and a mean gap of at
# most 0.019; every liar but one (another model's text, identical in effect)
# had a miss share of 0.021 or more or a mean gap of 0.208 or more. Greedy
# checks are spot checks: logits at a quarter of the positions (at least
# SPOT_MIN), every position once a drawn token is more than 1.0 off the argmax
GREEDY = CheckPolicy(top_k=4, max_miss_share=0.05, max_mean_gap=0.15, spot_share=0.25, escalate_gap=1.0)


# backends whose output is a pure function of the request (simulated models,
# tools) check by recomputing it: every claimed token must be the one expected
EXACT = CheckPolicy(top_k=1, max_miss_share=0.0, max_mean_gap=0.0)
MISS_RANK = 1 << 20  # the rank and gap an exact check gives a token that differs
MISS_GAP = 100.0


SPOT_MIN = 16  # outputs this short are scored at every position, longer ones at this many at least


def spot_positions(n_tokens: int, share: float, rng: random.Random) -> list[int] | None:
    """The positions of the claimed tokens a spot check scores: a random
    sample of ``share`` of them (at least ``SPOT_MIN``), drawn by the checker
    with ``rng`` after the claim is made, so the producer cannot know which
    tokens count; None (score every token) when that is all or nearly so."""
    if share >= 1.0 or n_tokens <= SPOT_MIN:
        return None
    k = max(SPOT_MIN, math.ceil(share * n_tokens))
    return None if k >= n_tokens else sorted(rng.sample(range(n_tokens), k))


def escalates(gaps: Sequence[float], policy: CheckPolicy) -> bool:
    """Whether a spot check saw a token far enough from the model's choice
    that the whole output is scored (a liar's edit seldom stays alone)."""
    return any(g > policy.escalate_gap for g in gaps)


def sampled(temperature: float) -> CheckPolicy:
    """Loose by necessity: any token the sampler could pick passes (honest
    outputs at T=0.8: mean gap up to 2.02, up to 12.5% of tokens re-tokenised
    outside the top 40); it catches text the model would not write at all.
    Every position is scored: its bounds are on averages a sample would blur."""
    return CheckPolicy(top_k=SAMPLER_TOP_K, max_miss_share=0.15,
                       max_mean_gap=max(GREEDY.max_mean_gap, temperature * math.log(1 / SAMPLER_MIN_P)))


def policy_for(temperature: float) -> CheckPolicy:
    return GREEDY if temperature <= 0 else sampled(temperature)


def judge(ranks: list[int], gaps: list[float], policy: CheckPolicy, seconds: float = 0.0) -> CheckVerdict:
    """The verdict on one claimed output from its tokens' ranks and gaps."""
    if len(ranks) != len(gaps):
        raise ValueError("one rank and one gap per token")
    n = len(ranks)
    if n == 0:
        return CheckVerdict(True, 0, 0, 0.0, 0.0, "", seconds)
    misses = sum(1 for r in ranks if r >= policy.top_k)
    mean_gap = sum(gaps) / n
    reason = ""
    if misses > policy.max_miss_share * n:
        reason = f"{misses} of {n} tokens outside the model's top {policy.top_k}"
    elif mean_gap > policy.max_mean_gap:
        reason = f"mean log-prob gap {mean_gap:.2f} > {policy.max_mean_gap:.2f}"
    return CheckVerdict(not reason, n, misses, round(mean_gap, 4), round(max(gaps), 4), reason, seconds)
