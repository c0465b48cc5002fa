"""Calibrating the check by scoring: honest outputs and liars, both bundled models.

For every prompt and model, the honest outputs are generated as a worker
generates them (``hivemesh.worker.stages.stage_request``: greedy, the model's
repeat penalty; and seeded sampling at ``--temperature``), then scored by the
same model in one prefill pass. Liars claim, for the same greedy request:
the other model's answer, random words, the honest answer with two pairs of
words swapped, and the honest answer with one word replaced. Per case: how
many outputs the calibrated policy (``hivemesh.models.scoring``) accepts, and
the spread of the two figures it decides on (share of tokens outside the
top-k, mean log-probability gap), every position scored. Then each greedy
claim is spot-checked ``--draws`` times per ``--shares`` (fresh positions
each time, from a seeded generator so that runs repeat), on the figures of
every position (a spot check reads the same rows: tests/models/
test_spot_check.py): the share of spot checks that accept it, for several
escalation bounds (a spot-checked token whose gap exceeds the bound has the
whole output scored, which decides then).

    .venv/bin/python bench/calibrate.py [--max-tokens 48] [--threads 2] [--shares 0.25,0.125] [--draws 200]

The last line is JSON: {case: {"n", "accepted", "mean_gap": [min, median, max],
"miss_share": [min, median, max]}, ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
import time
from collections import defaultdict

from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.scoring import GREEDY, CheckPolicy, CheckVerdict, escalates, judge, policy_for, spot_positions
from hivemesh.models.sources import load_model

CHAT = [
    "Summarise in one sentence: The city council voted on Tuesday to extend the bike lane network by forty "
    "kilometres over the next three years, citing a rise in cycling since 2020.",
    "Write a Python function that returns the largest of three numbers.",
    "What is the capital of Japan? Answer in one word.",
    "List three fruits that are red.",
    "Explain what a hash function is in two sentences.",
    "Translate to French: The weather is nice today.",
    "Is the following review positive or negative? 'The battery died after two days and support never replied.'",
    "Extract the date from: The meeting was moved to 14 March 2025 at the Berlin office.",
    "Give a short title for an article about saving water at home.",
    "Write a haiku about autumn leaves.",
]
RAW = [
    "The history of the printing press begins",
    "def fibonacci(n):",
    "Q: What is the boiling point of water at sea level?\nA:",
    "The three largest planets in the solar system are",
]
WORDS = ("the of and to in is was for on that with as by at from it an be this which or are have not had "
         "river green seven house market quickly under bright paper window answer number music table").split()


def requests(max_tokens: int, temperature: float = 0.0, seed: int | None = None) -> list[CompletionRequest]:
    common = dict(max_tokens=max_tokens, temperature=temperature, seed=seed)
    return ([CompletionRequest(messages=(ChatMessage("user", p),), **common) for p in CHAT]
            + [CompletionRequest(prompt=p, **common) for p in RAW])


def swapped(text: str, rnd: random.Random, pairs: int = 2) -> str:
    words = text.split(" ")
    if len(words) < 4:
        return text + " " + rnd.choice(WORDS)
    for _ in range(pairs):
        i, j = rnd.sample(range(len(words)), 2)
        while words[i] == words[j]:
            i, j = rnd.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return " ".join(words)


def replaced(text: str, rnd: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.strip()]
    i = rnd.choice(candidates) if candidates else 0
    words[i] = rnd.choice([w for w in WORDS if w != words[i]])
    return " ".join(words)


def random_words(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(max(3, n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--shares", default="0.25,0.125", help="spot shares to calibrate, comma-separated")
    parser.add_argument("--draws", type=int, default=200, help="spot checks per greedy claim and share")
    parser.add_argument("--scorers", default="gemma3-270m,smollm2-135m-instruct", help="models that score")
    args = parser.parse_args()
    full = dataclasses.replace(GREEDY, spot_share=1.0, escalate_gap=math.inf)
    shares = [float(x) for x in args.shares.split(",") if x]
    spots: dict[tuple[str, float], list[tuple[list[int], list[float]]]] = defaultdict(list)
    rnd = random.Random(20261202)
    models = {name: load_model(f"{name}?ctx=1024&threads={args.threads}")
              for name in ("gemma3-270m", "smollm2-135m-instruct")}
    greedy = requests(args.max_tokens)
    honest = {name: [m.generate(r).text for r in greedy] for name, m in models.items()}
    figures: dict[str, list] = defaultdict(list)
    for name, model in models.items():
        if name not in args.scorers.split(","):
            continue
        other = next(o for o in models if o != name)
        for i, request in enumerate(greedy):
            text = honest[name][i]
            cases = {"honest_greedy": text, "liar_other_model": honest[other][i],
                     "liar_random_words": random_words(rnd, len(text.split())),
                     "liar_two_swaps": swapped(text, rnd), "liar_one_word_replaced": replaced(text, rnd)}
            for case, claimed in cases.items():
                started = time.monotonic()
                ranks, gaps = model.token_scores(request, claimed)
                figures[case].append(judge(ranks, gaps, full, time.monotonic() - started))
                for share in shares:
                    spots[case, share].append((ranks, gaps))
        for seed in range(1, args.seeds + 1):
            for request in requests(args.max_tokens, args.temperature, seed):
                text = model.generate(request).text
                figures[f"honest_t{args.temperature}"].append(model.score(request, text, policy_for(request.temperature)))
    summary = {}
    for case, verdicts in figures.items():
        scored = [v for v in verdicts if v.tokens]
        gaps = sorted(v.mean_gap for v in scored)
        misses = sorted(v.misses / v.tokens for v in scored)
        summary[case] = {"n": len(verdicts), "accepted": sum(v.ok for v in verdicts),
                         "mean_gap": [round(gaps[0], 3), round(statistics.median(gaps), 3), round(gaps[-1], 3)],
                         "miss_share": [round(misses[0], 3), round(statistics.median(misses), 3),
                                        round(misses[-1], 3)],
                         "check_s": round(sum(v.seconds for v in verdicts), 2)}
        print(f"{case:24} accepted {summary[case]['accepted']:3}/{len(verdicts):3}  mean gap min/med/max "
              f"{summary[case]['mean_gap']}  miss share {summary[case]['miss_share']}")
    print_grid(figures)
    print_spot_grid(spots, args.draws, random.Random(20261203))
    print(json.dumps(summary))


def print_grid(figures: dict[str, list]) -> None:
    """How many outputs of each greedy case other bounds would accept (misses at top-k 4)."""
    cases = [c for c in figures if c != "honest_t" and not c.startswith("honest_t")]
    print("greedy policy grid (top-k %d): accepted per case" % GREEDY.top_k)
    print("  miss_share gap   " + "  ".join(f"{c[:14]:>14}" for c in cases))
    for share in (0.0, 0.05, 0.1):
        for gap in (0.1, 0.15, 0.2, 0.3, 0.5):
            policy = CheckPolicy(GREEDY.top_k, share, gap)
            row = [sum(_accepts(v, policy) for v in figures[c]) for c in cases]
            print(f"  {share:10.2f} {gap:4.2f}  " + "  ".join(f"{n:>11}/{len(figures[c]):<2}" for n, c in zip(row, cases)))


def print_spot_grid(spots: dict[tuple[str, float], list[tuple[list[int], list[float]]]], draws: int,
                    rng: random.Random) -> None:
    """Share of spot checks that accept, per case, share and escalation bound
    E; for honest outputs, the share that escalated (each costs a full check)."""
    print(f"spot checks (greedy policy, {draws} draws per claim): share accepted, escalating above gap E")
    for (case, share), claims in sorted(spots.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        row = []
        for bound in (0.5, 1.0, 2.0, 4.0, math.inf):
            policy = dataclasses.replace(GREEDY, spot_share=share, escalate_gap=bound)
            verdicts = [spot_verdict(ranks, gaps, policy, rng) for ranks, gaps in claims for _ in range(draws)]
            row.append(f"E={bound}: {sum(v.ok for v, _ in verdicts) / len(verdicts):.3f} "
                       f"(esc {sum(e for _, e in verdicts) / len(verdicts):.3f})")
        print(f"  share {share:5} {case:24} " + "  ".join(row))


def spot_verdict(ranks: list[int], gaps: list[float], policy: CheckPolicy,
                 rng: random.Random) -> tuple[CheckVerdict, bool]:
    """What ``LlamaCppModel.score`` decides under ``policy``, from every
    position's figures: those it draws, all of them if it escalates."""
    picked = spot_positions(len(ranks), policy.spot_share, rng)
    if picked is None:
        return judge(ranks, gaps, policy), False
    spot_gaps = [gaps[i] for i in picked]
    if escalates(spot_gaps, policy):
        return judge(ranks, gaps, policy), True
    return judge([ranks[i] for i in picked], spot_gaps, policy), False


def _accepts(verdict: CheckVerdict, policy: CheckPolicy) -> bool:
    return verdict.tokens == 0 or (verdict.misses <= policy.max_miss_share * verdict.tokens
                                   and verdict.mean_gap <= policy.max_mean_gap)


if __name__ == "__main__":
    main()
