"""Where a pipeline stage's time goes: n-stage jobs through the gateway on
``bench/pipeline.py``'s peers, every step stamped, and what a job sends.

Stamps (ms from submit, the median over the jobs of each step's first time):
a worker's input arriving and verified (``W input``), its model, its
signature, its hand-off (written .. acked), its report written; the
gateway's report read, each store trip of its conductor, the job's end.
Then, for 1- and n-stage jobs alike, the Noise messages and thread trips a
job costs (gossip of the seven peers included), so the per-stage figures are
the difference over n - 1; and the Noise messages of one raw request/response
(``bench/gateway.py``'s raw ceiling: an eager open, a frame each way, a close),
so a job's count compares with the 1 + n raw requests ``ratio_to_raw`` divides
by: at an equal cost a message, that ratio cannot pass their quotient. Instrumentation by wrapping, so the figures carry
its own small cost.

    PYTHONPATH=. .venv/bin/python bench/pipetrace.py [--stages 5] [--jobs 30]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

import trio

from bench.pipeline import bench_mesh, gateway_job, raw_rtt
from hivemesh.gateway import conductor, jobrun
from hivemesh.mesh import wire
from hivemesh.worker import stages, worker
from hivemesh.worker.pipewire import StageDone

STAMPS: list[tuple[float, str]] = []
COUNTS: Counter[str] = Counter()


def stamp(label: str) -> None:
    STAMPS.append((time.perf_counter(), label))


def around(owner: Any, name: str, label: Any, asynchronous: bool = True) -> None:
    """Stamp ``owner.name`` (its start and, when async, its end); ``label(*args)`` names it."""
    fn = getattr(owner, name)

    if asynchronous:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            stamp(label(*args) + " start")
            try:
                return await fn(*args, **kwargs)
            finally:
                stamp(label(*args) + " end")
    else:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            stamp(label(*args))
            return fn(*args, **kwargs)

    setattr(owner, name, timed)


def counted(owner: Any, name: str, key: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    async def count(*args: Any, **kwargs: Any) -> Any:
        COUNTS[key] += 1
        return await fn(*args, **kwargs)

    setattr(owner, name, count)


def instrument() -> None:
    from libp2p.security.secure_session import SecureSession

    around(stages.StageRunner, "receive", lambda self, out, sender: f"W input {out.to_subtask}", False)
    around(worker.Worker, "run_model", lambda self, *a: "W model")
    around(stages, "sign_claim", lambda claim, key: f"W sign {claim.subtask_id}", False)
    around(stages.Links, "send", lambda self, peer, out, *a: f"W hand-off {out.claim.subtask_id}")
    around(conductor.Conductor, "_report", lambda self, peer, assign, done: f"G report read {assign.subtask_id}", False)
    around(jobrun.JobRun, "_end", lambda self, *a, **k: "G job end")
    write_kind, flush = wire.write_kind, conductor.Conductor._flush

    async def report_written(stream: Any, msg: Any) -> None:
        if isinstance(msg, StageDone) and msg.claim is not None:
            stamp(f"W report written {msg.claim.subtask_id}")
        await write_kind(stream, msg)

    async def trip(self: Any) -> None:
        if self._saves or self._events:
            stamp("G store trip")
        await flush(self)

    wire.write_kind, conductor.Conductor._flush = report_written, trip  # type: ignore[method-assign]
    counted(SecureSession, "write", "noise_messages")
    counted(trio.to_thread, "run_sync", "thread_trips")


async def run(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        gw, client, workers = await bench_mesh(nursery)
        for i in range(10):  # warm up
            await gateway_job(client, args.stages, f"warm-{i}")
        steps: dict[str, list[float]] = defaultdict(list)
        totals = []
        for j in range(args.jobs):
            STAMPS.clear()
            started = time.perf_counter()
            totals.append((await gateway_job(client, args.stages, f"trace-{j}"))[0])
            first: dict[str, float] = {}
            trips = 0
            for at, label in STAMPS:
                if label == "G store trip":
                    trips += 1
                    label = f"G store trip #{trips}"
                first.setdefault(label, (at - started) * 1000)
            for label, ms in first.items():
                steps[label].append(ms)
        for label in sorted(steps, key=lambda k: statistics.median(steps[k])):
            print(f"{statistics.median(steps[label]):8.2f} ms  {label}")
        print(f"job, client to client: {statistics.median(totals):.2f} ms (median of {args.jobs})")
        per_job = {}
        for n in (1, args.stages, 1, args.stages):
            COUNTS.clear()
            for j in range(args.jobs):
                await gateway_job(client, n, f"count-{n}-{j}-{time.monotonic()}")
            per_job.setdefault(n, []).append({k: v / args.jobs for k, v in COUNTS.items()})
        for key in ("noise_messages", "thread_trips"):
            one, many = (statistics.mean(c[key] for c in per_job[n]) for n in (1, args.stages))
            print(f"{key}: {one:.1f} a 1-stage job, {many:.1f} a {args.stages}-stage job, "
                  f"{(many - one) / (args.stages - 1):.2f} per extra stage")
        # what bench/gateway.py's raw ceiling does per request (an eager open, one frame each way,
        # a close), counted the same way, so a job's messages compare with the 1 + stages it is divided by
        COUNTS.clear()
        for j in range(args.jobs):
            await raw_rtt(gw.node, workers[j % len(workers)])
        raw = COUNTS["noise_messages"] / args.jobs
        one, many = (statistics.mean(c["noise_messages"] for c in per_job[n]) for n in (1, args.stages))
        streams = 1 + args.stages  # the job stream and one stage stream per stage
        print(f"noise_messages: {raw:.1f} a raw request/response; {streams} of them {streams * raw:.1f} against "
              f"{many:.1f} for a {args.stages}-stage job: at equal cost a message, ratio_to_raw <= "
              f"{streams * raw / many:.2f}")
        nursery.cancel_scope.cancel()


def main() -> None:
    import logging

    import libp2p  # noqa: F401  (it sets up its loggers on import)

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    instrument()
    trio.run(run, args)


if __name__ == "__main__":
    main()
