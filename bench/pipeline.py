"""Latency of the pipeline data path against raw py-libp2p streams, on loopback.

In one run, side by side (one process: a bootstrap, 5 workers with
zero-latency simulated models, a gateway on the in-process store, a client):
- raw_rtt_ms: open a py-libp2p stream, send a small frame, read it echoed back
  (what every hivemesh request costs at least); raw_lazy_rtt_ms: the same with
  the lazy open the hot paths use (``mesh.lazyselect``: the protocol id goes
  out with the frame; for comparison, the goals are against raw_rtt_ms);
- the real gateway path: jobs submitted by the client through
  ``hivemesh.client.submit_via`` to the gateway, which plans them (an n-stage
  chain), runs them (job run, conductor, store) and answers:
  - gateway_subtask_rtt_ms: for one-stage jobs, from the gateway's
    ``subtask_started`` event to its ``subtask_finished`` (both reach the client
    on the same stream): the conductor opening the stage stream, the
    assignment, the ack, the run, the signed report, its checks and the store
    write;
  - job_ms[n-1]: the whole job, client to client, for n = 1..5 stages;
    job_stage_ms is the mean added latency per extra stage;
- without the gateway (the data path alone): subtask_rtt_ms, one stage
  assigned straight to a worker over ``/hivemesh/stage/1`` (opened lazily, as
  ``call_stage`` and the conductor open it), and hop_ms[n-1]
  for n stages assigned at once, outputs going worker to worker; hop_overhead_ms
  is the mean added latency per extra stage;
- gateway_payload_bytes[n-1]: output bytes that reached the gateway for n
  stages (only the answer's, so it must not grow with n).

    PYTHONPATH=. .venv/bin/python bench/pipeline.py [--repeats 60] [--processes]

With ``--processes`` the bootstrap, the workers and the gateway are each an OS
process (as on separate machines) and this process keeps the client, which
also measures the raw round trips and drives the direct path: in one
process every peer takes turns on one trio loop, so a worker's report to the
gateway, the gateway's store trip and the next stage's run wait for each
other; across processes they run side by side, as in a real mesh.

A measurement with no answer in ``STEP_TIMEOUT_S`` (30 s) is left out and
named in ``timed_out`` (a run once hung on one). The last line is JSON. Goals: gateway_subtask_ratio (gateway_subtask_rtt_ms /
raw_rtt_ms) <= 1.5; job_stage_ms <= raw_rtt_ms + 1 (``job_stage_vs_raw_ms`` <= 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import trio

from hivemesh.client import submit_via
from hivemesh.gateway.jobwire import JobEvent, JobSubmit
from hivemesh.gateway.store import MemoryStore
from hivemesh.mesh import wire
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_bootstrap, start_gateway, start_node, start_worker
from hivemesh.planner.base import PlanRequest, PlanResult
from hivemesh.simulations.workload import chain_plan, job_input
from hivemesh.worker.pipewire import STAGE, Route, StageAck, StageAssign, StageDone
from hivemesh.worker.tokens import read_stage_end

ECHO = "/bench/echo/1"


async def echo_handler(stream) -> None:  # type: ignore[no-untyped-def]
    data = await wire.read_frame(stream, 1024)
    await stream.write(wire.frame(data))
    await stream.close()


async def raw_rtt(node, peer: str, lazy: bool = False) -> float:  # type: ignore[no-untyped-def]
    """py-libp2p's own stream open (multistream-select negotiated first); with
    ``lazy``, the open the hot paths use (``mesh.lazyselect``), for comparison."""
    started = time.perf_counter()
    stream = await node.open_stream(peer, ECHO, lazy=lazy)
    await stream.write(wire.frame(b"x" * 64))
    await wire.read_frame(stream, 1024)
    await stream.close()
    return (time.perf_counter() - started) * 1000


def assignment(job: str, i: int, n: int, workers: list[str]) -> StageAssign:
    sid = f"s{i}"
    downstream = (Route(f"s{i + 1}", workers[(i + 1) % len(workers)], 1),) if i + 1 < n else ()
    template = "Start the work." if i == 0 else f"Continue: {{{{out:s{i - 1}}}}}"
    return StageAssign(job_id=job, subtask_id=sid, attempt=1, capability="general", template=template,
                       job_text="", inputs={}, chunks={}, depends_on=(f"s{i - 1}",) if i else (),
                       downstream=downstream, max_tokens=16, deadline_s=30, answer=i == n - 1)


async def pipeline(node, workers: list[str], n: int, job: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Send n stage assignments; return ms until the answer's report, and the
    output bytes that reached this (gateway) node."""
    done: list[StageDone] = []
    streams: list[tuple[int, object]] = []

    async def assign(i: int) -> None:  # all at once, as the gateway does
        stream = await node.open_stream(workers[i % len(workers)], STAGE, lazy=True)  # as ``call_stage`` opens it
        await wire.write_message(stream, assignment(job, i, n, workers))
        ack = await wire.read_message(stream, StageAck)
        assert ack.ok, ack.error
        streams.append((i, stream))

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(assign, i)
    answer_stream = next(s for i, s in streams if i == n - 1)
    done.append(await read_stage_end(answer_stream, None))
    elapsed = (time.perf_counter() - started) * 1000
    payload = len(done[0].text.encode())
    for i, stream in streams:
        if i != n - 1:
            payload += len((await read_stage_end(stream, None)).text.encode())
        await stream.close()
    return elapsed, payload


class ChainPlanner:
    """Plans a job whose text is "stages=N" as the simulations' N-stage chain."""

    name = "bench-chain"

    async def plan(self, request: PlanRequest) -> PlanResult:
        await trio.lowlevel.checkpoint()
        stages = int(request.job.split("=", 1)[1].split()[0])
        return PlanResult(request.check(chain_plan(stages, 1)), self.name)


async def gateway_job(client, n: int, job: str) -> tuple[float, float | None]:  # type: ignore[no-untyped-def]
    """One n-stage job through the gateway: ms client to client, and for a
    one-stage job the ms from its subtask_started event to subtask_finished."""
    marks: dict[str, float] = {}

    def on_event(event: JobEvent) -> None:
        marks.setdefault(event.kind, time.perf_counter())

    submit = JobSubmit(job_id=job, text=f"stages={n} {job}", inputs=(job_input(0),))  # distinct: no cached answer
    started = time.perf_counter()
    result = await submit_via(client, submit, 1, on_event)
    elapsed = (time.perf_counter() - started) * 1000
    assert result.status == "done", result.error
    sub = (marks["subtask_finished"] - marks["subtask_started"]) * 1000 if n == 1 else None
    return elapsed, sub


async def bench_mesh(nursery: trio.Nursery):  # type: ignore[no-untyped-def]
    """The bench's peers, formed: a bootstrap, 5 workers (zero-latency simulated
    models, the echo protocol), a gateway on the in-process store, a client.
    Returns the gateway peer, the client's node and the workers' peer ids."""
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[:1]
    workers = [(await worker_peer(nursery, addr, i)).node.peer_id for i in range(5)]
    gw = await gateway_peer(nursery, addr)
    client = (await start_node(nursery, MeshConfig(generate(), bootstrap=addr, roles=(), advertise=False))).node
    with trio.fail_after(60):
        for seer in (gw.node, client):
            while not all(w in seer.view.peers for w in workers):
                await trio.sleep(0.1)
        while gw.node.peer_id not in client.view.peers:
            await trio.sleep(0.1)
        while not all(w in gw.node.connected_peers() for w in workers):
            await trio.sleep(0.1)
    return gw, client, workers


# --- the same peers as OS processes (``--processes``) ---------------------------------

async def worker_peer(nursery: trio.Nursery, addr: list[str], i: int):  # type: ignore[no-untyped-def]
    """One of the bench's workers: a zero-latency simulated model, 4 slots, the echo protocol."""
    registry = ModelRegistry()
    registry.add(SimulatedModel(f"sim{i}", reply_words=8), ("general", chain_plan(1, 1).subtasks[0].capability))
    w = await start_worker(nursery, MeshConfig(generate(), bootstrap=addr), registry, slots=4)
    w.node.handle(ECHO, echo_handler)
    return w


async def gateway_peer(nursery: trio.Nursery, addr: list[str]):  # type: ignore[no-untyped-def]
    """The bench's gateway: the in-process store, the chain planner ("stages=N" jobs)."""
    return await start_gateway(nursery, MeshConfig(generate(), bootstrap=addr, roles=()), MemoryStore(), ChainPlanner())


async def serve_peer(role: str, bootstrap: str, index: int) -> None:
    """A child process of ``--processes``: one peer; prints its multiaddr, then
    serves until the bench kills it."""
    async with trio.open_nursery() as nursery:
        if role == "boot":
            peer = await start_bootstrap(nursery)
        elif role == "worker":
            peer = await worker_peer(nursery, [bootstrap], index)
        else:
            peer = await gateway_peer(nursery, [bootstrap])
        print(peer.node.full_addrs()[0], flush=True)


async def bench_procs(nursery: trio.Nursery, procs: list):  # type: ignore[no-untyped-def]
    """``bench_mesh``'s peers, each its own OS process (a bootstrap, 5 workers, the
    gateway), and the client in this one: what a mesh of separate machines does,
    where a worker's report to the gateway and the next worker's stage run side
    by side instead of taking turns on one loop. Returns the gateway's peer id,
    the client's node (it also measures the raw round trips and drives the
    direct path, as the gateway does in-process) and the workers' peer ids."""
    import subprocess
    import sys

    def spawn(role: str, bootstrap: str = "", index: int = 0) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "bench.pipeline", "--peer", role, "--bootstrap", bootstrap,
                                 "--index", str(index)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        procs.append(proc)
        return proc

    async def addr_of(proc: subprocess.Popen) -> str:
        assert proc.stdout is not None
        with trio.fail_after(60):
            line = await trio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
        if not line.startswith("/"):
            raise RuntimeError(f"a bench peer did not start (exit {proc.poll()})")
        return line.strip()

    boot = await addr_of(spawn("boot"))
    started = [spawn("worker", boot, i) for i in range(5)] + [spawn("gateway", boot)]
    ids = [(await addr_of(proc)).rsplit("/p2p/", 1)[1] for proc in started]
    workers, gw = ids[:5], ids[5]
    client = (await start_node(nursery, MeshConfig(generate(), bootstrap=[boot], roles=(), advertise=False))).node
    with trio.fail_after(60):
        while not all(p in client.view.peers for p in ids):
            await trio.sleep(0.1)
        for w in workers:  # the direct path's streams go from this node
            await raw_rtt(client, w)
    return gw, client, workers


#: a measurement that takes longer than this hung (seen: a run that never ended); it is left out and counted
STEP_TIMEOUT_S = 30.0


async def measure(args: argparse.Namespace, step, node, client, workers: list[str], m: dict) -> None:  # type: ignore[no-untyped-def]
    """Warm every path up, then ``args.repeats`` rounds of every measurement, into ``m``'s lists."""
    for i in range(10):  # warm up every path
        await raw_rtt(node, workers[0])
        await pipeline(node, workers, 2, f"warm-p{i}")  # a job id used once, as a gateway does
        await gateway_job(client, 2, f"warm-{i}")
    raw, lazy_raw, sub, gsub = m["raw"], m["lazy_raw"], m["sub"], m["gsub"]
    hops, jobs, payload = m["hops"], m["jobs"], m["payload"]
    for r in range(args.repeats):
        ms = await step(f"raw {r}", raw_rtt, node, workers[r % 5])
        if ms is not None:
            raw.append(ms)
        ms = await step(f"lazy raw {r}", raw_rtt, node, workers[r % 5], True)
        if ms is not None:
            lazy_raw.append(ms)
        one = await step(f"one-{r}", pipeline, node, workers[r % 5:] + workers[:r % 5], 1, f"one-{r}")
        if one is not None:
            sub.append(one[0])
        for n in range(1, 6):
            hop = await step(f"p{n}-{r}", pipeline, node, workers, n, f"p{n}-{r}")
            if hop is not None:
                hops[n - 1].append(hop[0])
                payload[n - 1] = hop[1]
            job = await step(f"j{n}-{r}", gateway_job, client, n, f"j{n}-{r}")
            if job is not None:
                jobs[n - 1].append(job[0])
                if job[1] is not None:
                    gsub.append(job[1])


async def run(args: argparse.Namespace) -> dict:
    timeouts: list[str] = []

    async def step(label: str, call, *a):  # type: ignore[no-untyped-def]
        with trio.move_on_after(STEP_TIMEOUT_S):
            return await call(*a)
        timeouts.append(label)
        print(f"{label}: no answer in {STEP_TIMEOUT_S:g} s; left out", flush=True)
        return None

    results: dict = {"raw": [], "lazy_raw": [], "sub": [], "gsub": [], "hops": [[] for _ in range(5)],
                     "jobs": [[] for _ in range(5)], "payload": [0] * 5}
    procs: list = []
    try:
        async with trio.open_nursery() as nursery:
            if args.processes:
                _, client, workers = await bench_procs(nursery, procs)
                node = client
            else:
                gw, client, workers = await bench_mesh(nursery)
                node = gw.node
            await measure(args, step, node, client, workers, results)
            nursery.cancel_scope.cancel()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    raw, lazy_raw, sub, gsub = results["raw"], results["lazy_raw"], results["sub"], results["gsub"]
    hops, jobs, payload = results["hops"], results["jobs"], results["payload"]
    raw_ms, sub_ms, gsub_ms = statistics.median(raw), statistics.median(sub), statistics.median(gsub)
    hop_ms = [statistics.median(h) for h in hops]
    job_ms = [statistics.median(j) for j in jobs]
    overhead = statistics.mean(hop_ms[i + 1] - hop_ms[i] for i in range(4))
    per_stage = statistics.mean(job_ms[i + 1] - job_ms[i] for i in range(4))
    for n, (ms, jms) in enumerate(zip(hop_ms, job_ms), 1):
        print(f"{n} stage(s): through the gateway {jms:.2f} ms (x{jms / raw_ms:.2f} raw); "
              f"without it {ms:.2f} ms (x{ms / raw_ms:.2f} raw), gateway received {payload[n - 1]} output bytes")
    print(f"raw stream round trip {raw_ms:.2f} ms; one subtask on the gateway path {gsub_ms:.2f} ms "
          f"(x{gsub_ms / raw_ms:.2f}), without the gateway {sub_ms:.2f} ms (x{sub_ms / raw_ms:.2f}); "
          f"each extra stage through the gateway {per_stage:.2f} ms (raw + {per_stage - raw_ms:.2f} ms), "
          f"without it {overhead:.2f} ms (raw + {overhead - raw_ms:.2f} ms)")
    lazy_ms = statistics.median(lazy_raw)
    print(f"raw stream round trip with a lazy open (protocol sent with the frame) {lazy_ms:.2f} ms; "
          f"one subtask on the gateway path x{gsub_ms / lazy_ms:.2f} of it")
    return {
        "raw_rtt_ms": round(raw_ms, 3),
        "raw_lazy_rtt_ms": round(lazy_ms, 3), "gateway_subtask_vs_lazy_raw": round(gsub_ms / lazy_ms, 3),
        "gateway_subtask_rtt_ms": round(gsub_ms, 3), "gateway_subtask_ratio": round(gsub_ms / raw_ms, 3),
        "job_ms": [round(j, 3) for j in job_ms], "job_stage_ms": round(per_stage, 3),
        "job_stage_vs_raw_ms": round(per_stage - raw_ms, 3),
        "subtask_rtt_ms": round(sub_ms, 3), "subtask_ratio": round(sub_ms / raw_ms, 3),
        "hop_ms": [round(h, 3) for h in hop_ms],
        "hop_overhead_ms": round(overhead, 3), "hop_overhead_vs_raw_ms": round(overhead - raw_ms, 3),
        "gateway_payload_bytes": payload, "repeats": args.repeats,
        "processes": args.processes, "timed_out": timeouts,
    }


def main() -> None:
    import logging

    import libp2p  # noqa: F401  (it sets up its loggers on import)

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # expected churn, logged as errors
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--processes", action="store_true",
                        help="each peer its own OS process (the client and the measuring node stay here)")
    parser.add_argument("--peer", choices=("boot", "worker", "gateway"), help=argparse.SUPPRESS)  # a child
    parser.add_argument("--bootstrap", default="", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        trio.run(serve_peer, args.peer, args.bootstrap, args.index)
        return
    print(json.dumps(trio.run(run, args)))


if __name__ == "__main__":
    main()
