"""Time to first token through the HTTP API on the mesh, against raw llama-cpp-python.

In one process, on loopback: a bootstrap, a gateway (in-process store) serving
the OpenAI-compatible API, and a worker serving ``general`` with a GGUF model.
- raw_ttft_ms: llama-cpp-python's ``create_completion(stream=True)`` on the
  same loaded model and the same prompt tokens the worker would give it, from
  the call to its first text chunk;
- mesh_ttft_ms: ``POST /v1/chat/completions`` with ``stream: true`` and
  ``model: general`` (one subtask, no planning), from sending the request to
  its first content chunk: HTTP, the job in the store, placement, the stage
  stream to the worker, the model, and the token's way back.
Each is warmed up once (not timed), then timed once (``--repeats N``: N
rounds, raw then mesh, each mesh round another prompt so no output is
cached; the figures are then medians, the rounds listed).

    .venv/bin/python bench/ttft.py [--model bundled] [--prompt TEXT] [--max-tokens 16] [--repeats 1]

The last line is JSON: {"raw_ttft_ms", "mesh_ttft_ms", "overhead_ms", ...}. Goal: overhead_ms <= 25.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import httpx
import trio

from hivemesh.api.app import Api, ApiSettings
from hivemesh.api.server import serve
from hivemesh.gateway.store.memory import MemoryStore
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.sources import load_model
from hivemesh.peer.inprocess import start_bootstrap, start_gateway, start_worker
from hivemesh.planner.errors import PlanError
from hivemesh.planner.offline import ScriptedPlanner

PROMPT = "Name three colours."


def raw_ttft(model, prompt: str, max_tokens: int) -> float:  # type: ignore[no-untyped-def]
    request = CompletionRequest(messages=(ChatMessage("user", prompt),), max_tokens=max_tokens)
    tokens, stop = model._prompt(request)  # the tokens and stops the worker's generate uses
    model._llm.reset()
    started = time.perf_counter()
    first = None
    for chunk in model._llm.create_completion(prompt=tokens, stop=stop or None, max_tokens=max_tokens,
                                              temperature=0.0, stream=True):
        if first is None and chunk["choices"][0]["text"]:
            first = time.perf_counter()
    return ((first or time.perf_counter()) - started) * 1000


async def mesh_ttft(client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int) -> float:
    body = {"model": "general", "stream": True, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": prompt}]}
    started = time.perf_counter()
    first = None
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {") and '"content": "' in line and '"content": ""' not in line:
                first = time.perf_counter()
    return ((first or time.perf_counter()) - started) * 1000


async def main(args: argparse.Namespace) -> dict:
    model = await trio.to_thread.run_sync(load_model, f"{args.model}?threads={args.threads}")
    registry = ModelRegistry()
    registry.add(model, ("general",))
    async with trio.open_nursery() as nursery:
        boot = await start_bootstrap(nursery)
        addr = [boot.node.full_addrs()[0]]
        worker = await start_worker(nursery, MeshConfig(generate(), bootstrap=addr, advert_interval=0.5), registry)
        gw = await start_gateway(nursery, MeshConfig(generate(), bootstrap=addr, advert_interval=0.5, roles=()),
                                 MemoryStore(), ScriptedPlanner([PlanError("not planned")]))  # never asked: model "general" is not planned
        while worker.node.peer_id not in gw.node.view.peers:
            await trio.sleep(0.05)
        url = await nursery.start(serve, Api(gw.extra["gateway"], ApiSettings()).app(), "127.0.0.1:0")
        async with httpx.AsyncClient(timeout=120) as client:
            await trio.to_thread.run_sync(raw_ttft, model, args.prompt, args.max_tokens)  # warm-up
            await mesh_ttft(client, url, args.prompt + " ", args.max_tokens)  # warm-up (another job: no output cache)
            raws, meshes = [], []
            for i in range(args.repeats):
                prompt = args.prompt + "\n" * i  # a new prompt each round: no cached output
                raws.append(await trio.to_thread.run_sync(raw_ttft, model, prompt, args.max_tokens))
                meshes.append(await mesh_ttft(client, url, prompt, args.max_tokens))
        nursery.cancel_scope.cancel()
    model.close()
    raw, mesh = statistics.median(raws), statistics.median(meshes)
    report = {"raw_ttft_ms": round(raw, 2), "mesh_ttft_ms": round(mesh, 2), "overhead_ms": round(mesh - raw, 2),
              "model": args.model, "prompt": args.prompt, "max_tokens": args.max_tokens, "repeats": args.repeats}
    if args.repeats > 1:  # per-round differences too: on a busy machine rounds vary more than the paths do
        report["overhead_paired_median_ms"] = round(statistics.median(m - r for r, m in zip(raws, meshes)), 2)
        report["rounds_ms"] = [[round(r, 1), round(m, 1)] for r, m in zip(raws, meshes)]
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="bundled", help="model spec (bundled, smollm2-135m-instruct, a .gguf)")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="rounds; the figures are medians")
    report = trio.run(main, parser.parse_args())
    print(json.dumps(report))
