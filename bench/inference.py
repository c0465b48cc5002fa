"""Tokens/s of raw llama-cpp-python vs the same model behind a hivemesh worker.

One run, same model file, prompts, threads and greedy settings. The worker
path is the one jobs take: a caller peer sends each prompt as a one-stage
pipeline on ``/hivemesh/stage/1`` to a worker peer (assignment, ack, the
signed ``StageDone`` with the answer's text), so its time includes framing,
the stream, the slot, the thread hop and signing the output. Raw and worker
rounds alternate so that machine noise hits both alike; medians are reported.

    .venv/bin/python bench/inference.py [--model bundled] [--rounds 3] [--max-tokens 64]

The last line is JSON: {"raw_tok_s", "worker_tok_s", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import trio

from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import ModelRegistry
from hivemesh.peer.inprocess import start_bootstrap, start_node, start_worker
from hivemesh.models.sources import gguf_path, load_model, parse_spec
from hivemesh.worker.pipewire import StageAssign
from hivemesh.worker.stagecall import call_stage

PROMPTS = [
    "The history of the printing press begins",
    "A short guide to growing tomatoes at home:",
    "def fibonacci(n):",
    "The three largest planets in the solar system are",
]


def raw_round(llm, max_tokens: int) -> tuple[int, float]:
    tokens, started = 0, time.perf_counter()
    for prompt in PROMPTS:
        out = llm.create_completion(prompt=prompt, max_tokens=max_tokens, temperature=0.0, seed=0)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


async def worker_round(caller, worker_id: str, max_tokens: int, rnd: int) -> tuple[int, float]:
    tokens, started = 0, time.perf_counter()
    for i, prompt in enumerate(PROMPTS):
        assign = StageAssign(job_id=f"bench-r{rnd}", subtask_id=f"p{i}", attempt=1, capability="general",
                             template=prompt, job_text="", inputs={}, chunks={}, depends_on=(), downstream=(),
                             max_tokens=max_tokens, deadline_s=600.0, answer=True, chat=False)
        done = await call_stage(caller, worker_id, assign)
        tokens += done.completion_tokens
    return tokens, time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict:
    from llama_cpp import Llama

    spec = parse_spec(f"{args.model}?ctx={args.ctx}&threads={args.threads}")
    raw = Llama(model_path=str(gguf_path(spec)), n_ctx=args.ctx, n_threads=args.threads,
                n_threads_batch=args.threads, seed=0, verbose=False)
    registry = ModelRegistry()
    registry.add(load_model(spec), ("general",))
    raw_rates, worker_rates = [], []
    async with trio.open_nursery() as nursery:
        boot = await start_bootstrap(nursery)
        addr = [boot.node.full_addrs()[0]]
        worker = await start_worker(nursery, MeshConfig(generate(), bootstrap=addr), registry, slots=1)
        caller = await start_node(nursery, MeshConfig(generate(), bootstrap=addr, advertise=False))
        with trio.fail_after(30):
            while worker.node.peer_id not in caller.node.view.peers:
                await trio.sleep(0.1)
        await trio.to_thread.run_sync(raw_round, raw, 8)  # warm both paths
        await worker_round(caller.node, worker.node.peer_id, 8, -1)
        for rnd in range(args.rounds):
            tokens, seconds = await trio.to_thread.run_sync(raw_round, raw, args.max_tokens)
            raw_rates.append(tokens / seconds)
            tokens_w, seconds_w = await worker_round(caller.node, worker.node.peer_id, args.max_tokens, rnd)
            worker_rates.append(tokens_w / seconds_w)
            print(f"round {rnd}: raw {raw_rates[-1]:.1f} tok/s ({tokens} tokens), "
                  f"worker {worker_rates[-1]:.1f} tok/s ({tokens_w} tokens)", flush=True)
        nursery.cancel_scope.cancel()
    raw_tok_s, worker_tok_s = statistics.median(raw_rates), statistics.median(worker_rates)
    return {
        "model": args.model, "threads": args.threads, "max_tokens": args.max_tokens,
        "prompts": len(PROMPTS), "rounds": args.rounds,
        "raw_tok_s": round(raw_tok_s, 2), "worker_tok_s": round(worker_tok_s, 2),
        "ratio": round(worker_tok_s / raw_tok_s, 3),
    }


def main() -> None:
    import logging

    import libp2p  # noqa: F401  (it sets up its loggers on import)

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # expected churn, logged as errors
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=512)
    args = parser.parse_args()
    result = trio.run(run, args)
    print(f"median over {args.rounds} rounds: raw {result['raw_tok_s']} tok/s, worker {result['worker_tok_s']} tok/s "
          f"(/hivemesh/stage/1), ratio {result['ratio']}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
