"""Spot checks with the real bundled model: logits only at the positions the
checker drew, read from the right rows, and a check that still tells liars."""

import dataclasses
import random

import pytest

from hivemesh.models.base import CompletionRequest
from hivemesh.models.llama import REPEAT_PENALTY
from hivemesh.models.llama_score import score_tokens
from hivemesh.models.scoring import GREEDY, SPOT_MIN

pytestmark = pytest.mark.slow

REQUEST = CompletionRequest(prompt="The history of the printing press begins", max_tokens=48)


def tokens(model, request, text):
    prompt, _ = model._prompt(request)
    return prompt, model._llm.tokenize(text.encode(), add_bos=False, special=False)


def swapped(text):
    words = text.split(" ")
    words[2], words[6], words[9], words[13] = words[13], words[9], words[6], words[2]
    return " ".join(words)


def test_a_spot_check_reads_the_rows_a_full_check_reads(gemma):
    honest = gemma.generate(REQUEST).text
    prompt, output = tokens(gemma, REQUEST, swapped(honest))  # a liar: many tokens off the argmax
    ranks, gaps = score_tokens(gemma._llm, prompt, output, REPEAT_PENALTY)
    assert sum(r > 0 for r in ranks) >= 3
    picked = sorted(random.Random(3).sample(range(len(output)), 12)) + [len(output) - 1]
    spot_ranks, spot_gaps = score_tokens(gemma._llm, prompt, output, REPEAT_PENALTY, positions=sorted(set(picked)))
    assert spot_ranks == [ranks[i] for i in sorted(set(picked))]
    assert spot_gaps == pytest.approx([gaps[i] for i in sorted(set(picked))], abs=0.05)
    first, _ = score_tokens(gemma._llm, prompt, output, REPEAT_PENALTY, positions=[0])
    assert first == ranks[:1]  # the row the prompt alone gives


def test_a_spot_check_accepts_honest_answers_and_catches_an_edit_it_lands_on(gemma):
    gemma.spot_rng = random.Random(5)
    spot = dataclasses.replace(GREEDY, spot_share=0.25)
    honest = gemma.generate(REQUEST).text
    verdict = gemma.score(REQUEST, honest, spot)
    whole = gemma.score(REQUEST, honest, dataclasses.replace(spot, spot_share=1.0))
    assert verdict.ok and whole.ok and verdict.tokens == SPOT_MIN < whole.tokens
    assert not gemma.score(REQUEST, "river green seven house market quickly under bright paper window " * 3, spot).ok
    prompt, output = tokens(gemma, REQUEST, honest)
    words = honest.split(" ")
    words[5] = "market"  # one word replaced: where its token is drawn, it is far off the argmax
    lie_prompt, lie = tokens(gemma, REQUEST, " ".join(words))
    at = next(i for i, (a, b) in enumerate(zip(output, lie)) if a != b)
    ranks, gaps = score_tokens(gemma._llm, lie_prompt, lie, REPEAT_PENALTY, positions=[0, at, len(lie) - 1])
    assert ranks[1] >= GREEDY.top_k and gaps[1] > 1.0
