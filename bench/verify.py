"""Checking by scoring vs generating, with the real bundled model.

For each prompt the worker's generation (greedy, as pipeline stages run)
is timed, then the check of its output by one prefill pass
(``LlamaCppModel.score``: prompt + claimed output, logits at every
position). Same model file, prompts and threads, in one run; the rounds
alternate so machine noise hits both alike. Every honest output must pass
its check (the run fails otherwise).

    .venv/bin/python bench/verify.py [--model bundled] [--max-tokens 128] [--rounds 2] [--threads 2]

The last line is JSON: {"generate_s", "verify_s", "ratio", "tokens", ...}.
"""

from __future__ import annotations

import argparse
import json
import time

from hivemesh.models.base import CompletionRequest
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
    args = parser.parse_args()
    model = load_model(f"{args.model}?ctx=1024&threads={args.threads}")
    generate_s = verify_s = 0.0
    tokens = checks = 0
    for _ in range(args.rounds):
        for prompt in PROMPTS:
            request = CompletionRequest(prompt=prompt, max_tokens=args.max_tokens)
            started = time.perf_counter()
            completion = model.generate(request)
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            verdict = model.score(request, completion.text)
            verify_s += time.perf_counter() - started
            if not verdict.ok:
                raise SystemExit(f"an honest output failed its check: {prompt!r}: {verdict}")
            tokens += completion.completion_tokens
            checks += 1
            print(f"{prompt[:40]:40} tokens {completion.completion_tokens:4}  "
                  f"generate {completion.seconds:6.2f}s  verify {verdict.seconds:6.2f}s  mean gap {verdict.mean_gap}")
    print(json.dumps({"generate_s": round(generate_s, 3), "verify_s": round(verify_s, 3),
                      "ratio": round(verify_s / generate_s, 4), "tokens": tokens, "checks": checks,
                      "model": model.name, "threads": args.threads, "max_tokens": args.max_tokens}))


if __name__ == "__main__":
    main()
