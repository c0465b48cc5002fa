"""Checking by scoring vs generating, with the real bundled model.

For each prompt the worker's generation (greedy, as pipeline stages run)
is timed, then the check of its output by one prefill pass
(``LlamaCppModel.score``: prompt + claimed output, logits at the
spot-checked positions) under the shipped greedy policy and, side by side,
under each ``--shares`` (1.0: logits at every position, the check before
spot checks). Same model file, prompts and threads, in one run; generation
and checks alternate, and the checks' order turns with every output, so
machine noise hits all alike. Every honest output must pass every check (the
run fails otherwise).

    .venv/bin/python bench/verify.py [--model bundled] [--max-tokens 128] [--rounds 2] [--threads 2] [--shares 1.0]

The last line is JSON: {"generate_s", "verify_s", "ratio", "tokens", ...,
"ratio_by_share": {share: ratio}}; "verify_s" and "ratio" are the shipped policy's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from hivemesh.models.base import CompletionRequest
from hivemesh.models.scoring import GREEDY
from hivemesh.models.sources import load_model

PROMPTS = [
    "The history of the printing press begins",
    "A short guide to growing tomatoes at home:",
    "def fibonacci(n):",
    "The three largest planets in the solar system are",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shares", default="1.0", help="other spot shares to time, comma-separated")
    args = parser.parse_args()
    model = load_model(f"{args.model}?ctx=1024&threads={args.threads}")
    shares = list(dict.fromkeys([GREEDY.spot_share] + [float(x) for x in args.shares.split(",") if x]))
    policies = {share: dataclasses.replace(GREEDY, spot_share=share) for share in shares}
    generate_s = generate_cpu = 0.0
    verify_s = dict.fromkeys(shares, 0.0)
    verify_cpu = dict.fromkeys(shares, 0.0)  # CPU seconds too: a shared machine stretches wall time
    tokens = checks = 0
    for _ in range(args.rounds):
        for prompt in PROMPTS:
            request = CompletionRequest(prompt=prompt, max_tokens=args.max_tokens)
            started, cpu = time.perf_counter(), time.process_time()
            completion = model.generate(request)
            generate_s += time.perf_counter() - started
            generate_cpu += time.process_time() - cpu
            line = []
            turn = checks % len(shares)
            for share in shares[turn:] + shares[:turn]:
                started, cpu = time.perf_counter(), time.process_time()
                verdict = model.score(request, completion.text, policies[share])
                verify_s[share] += time.perf_counter() - started
                verify_cpu[share] += time.process_time() - cpu
                if not verdict.ok:
                    raise SystemExit(f"an honest output failed its check (share {share}): {prompt!r}: {verdict}")
                line.append(f"{share}: {verdict.seconds:5.2f}s {verdict.tokens:3} tok gap {verdict.mean_gap}")
            tokens += completion.completion_tokens
            checks += 1
            print(f"{prompt[:30]:30} tokens {completion.completion_tokens:4}  "
                  f"generate {completion.seconds:6.2f}s  verify " + "  ".join(sorted(line)), flush=True)
    shipped = verify_s[GREEDY.spot_share]
    print(json.dumps({"generate_s": round(generate_s, 3), "verify_s": round(shipped, 3),
                      "ratio": round(shipped / generate_s, 4), "tokens": tokens, "checks": checks,
                      "model": model.name, "threads": args.threads, "max_tokens": args.max_tokens,
                      "spot_share": GREEDY.spot_share,
                      "ratio_by_share": {str(s): round(v / generate_s, 4) for s, v in verify_s.items()},
                      "cpu_ratio_by_share": {str(s): round(v / generate_cpu, 4) for s, v in verify_cpu.items()}}))

if __name__ == "__main__":
    main()
