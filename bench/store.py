"""Job-store call latency: one Redis vs Sentinel vs Cluster, in one run.

Starts the same real topologies the store tests use (``tests/store/topology``:
a primary + replica + 3 sentinels; 3 primaries + 3 replicas) and one plain
``redis-server``, all on loopback, and runs the calls one job makes
(create, lease, record, subtasks, events, renew, replay, done) one after
another through ``RedisStore`` on each. "durable" is ``min_replicas=1``: job
creation, events and the job's end wait for a replica (``WAIT``).
"replicated" is the Sentinel set-up's primary asked directly (``redis://``):
it separates what a replica costs the primary from what the Sentinel client
costs.

The set-ups take turns in short slices (``--jobs`` jobs each), so load from
other processes hits them alike; each slice is paired with the one-Redis
slice of the same turn. Reported: the median microseconds per store call,
and the median (and quartiles) of the paired ratios to one Redis.

    .venv/bin/python bench/store.py [--turns 60] [--jobs 5]

The last line is JSON: {"us_per_call": {...}, "ratio_to_single": {...}, ...}.

``--clients`` instead compares the two ways to call Redis from trio on one
server: redis-py (sync) in ``trio.to_thread`` as the store does, and coredis
natively on trio (``pip install coredis`` first; it is not a dependency):
GET, SET and a two-key Lua script, in alternating slices, paired ratios.

``--replication`` asks where a replicated primary's extra latency goes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hivemesh.gateway.store.redis_store import RedisStore  # noqa: E402
from tests.redis_server import throwaway_redis  # noqa: E402
from tests.store.topology import cluster_setup, sentinel_setup  # noqa: E402

CALLS_PER_JOB = 14


def one_job(store: RedisStore, job_id: str) -> None:
    """The store calls of a two-subtask job, in the order a gateway makes them."""
    store.create_job_if_absent(job_id, b"r" * 200)
    store.acquire_lease(job_id, "gw", 8)
    store.append_event(job_id, b"accepted")
    store.put_job(job_id, b"r" * 400)
    store.append_event(job_id, b"planned")
    for sid in ("a", "b"):
        store.put_subtask(job_id, sid, b"s" * 300)
        store.append_event(job_id, b"subtask finished")
    store.renew_lease(job_id, "gw", 8)
    store.append_event(job_id, b"done" * 50)
    store.get_job(job_id)
    store.events(job_id, 0)
    store.mark_job_done(job_id)


def round_us(store: RedisStore, jobs: int) -> float:
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for i in range(jobs):
        one_job(store, f"{tag}-{i}")
    return (time.perf_counter() - started) / (jobs * CALLS_PER_JOB) * 1e6


def quartiles(values: list[float]) -> list[float]:
    q = statistics.quantiles(values, n=4)
    return [round(q[0], 2), round(q[2], 2)]


LUA = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('RPUSH', KEYS[2], ARGV[1])"


def compare_clients(url: str, port: int, turns: int, calls: int = 100) -> dict:
    """Microseconds per call from trio: redis-py in a thread vs coredis."""
    import coredis
    import redis
    import trio

    async def run() -> dict:
        r = redis.Redis.from_url(url)
        sha = r.script_load(LUA)
        async with coredis.Redis(port=port) as c:
            ways = {
                "get": (lambda: trio.to_thread.run_sync(r.get, "k"), lambda: c.get("k")),
                "set": (lambda: trio.to_thread.run_sync(lambda: r.set("k", b"x" * 200)),
                        lambda: c.set("k", b"x" * 200)),
                "lua": (lambda: trio.to_thread.run_sync(lambda: r.evalsha(sha, 2, "{a}1", "{a}2", b"v")),
                        lambda: c.evalsha(sha, ["{a}1", "{a}2"], [b"v"])),
            }
            out = {}
            for op, (threaded, native) in ways.items():
                times: dict[str, list[float]] = {"redis-py": [], "coredis": []}
                for turn in range(turns + 1):
                    order = [("redis-py", threaded), ("coredis", native)]
                    for name, call in order if turn % 2 else order[::-1]:
                        started = time.perf_counter()
                        for _ in range(calls):
                            await call()
                        if turn:  # the first turn warms up
                            times[name].append((time.perf_counter() - started) / calls * 1e6)
                paired = [a / b for a, b in zip(times["coredis"], times["redis-py"])]
                out[op] = {name: round(statistics.median(v), 1) for name, v in times.items()}
                out[op]["coredis/redis-py"] = round(statistics.median(paired), 2)
                out[op]["quartiles"] = quartiles(paired)
        r.close()
        return out

    return trio.run(run)


def replication_costs(turns: int, jobs: int) -> dict:
    """Where a replicated primary's extra latency goes: paired ratios of the
    Sentinel primary (asked directly) to one Redis, with the replica running,
    with the replica stopped (SIGSTOP: it reads nothing), with the sentinels
    stopped, and with ``repl-disable-tcp-nodelay yes`` (the primary's writes
    to its replica coalesced by the kernel)."""
    import os
    import signal

    from tests.store.topology import client

    out = {}
    with throwaway_redis() as one, sentinel_setup() as s:
        single = RedisStore.from_url(one.url, "bench:", finished_ttl_s=60)
        primary = RedisStore.from_url(f"redis://127.0.0.1:{s.primary.port}/0", "bench:", finished_ttl_s=60)
        round_us(single, 20), round_us(primary, 20)

        def ratio(label: str) -> None:
            pairs = []
            for turn in range(turns):
                a, b = (single, primary) if turn % 2 else (primary, single)
                x, y = round_us(a, jobs), round_us(b, jobs)
                pairs.append(x / y if a is primary else y / x)
            out[label] = round(statistics.median(pairs), 2)
            print(f"{label:28s} {out[label]:.2f}x one Redis", flush=True)

        def pause(pids: list[int], sig: int) -> None:
            for pid in pids:
                os.kill(pid, sig)

        ratio("replica running")
        pause([s.replica.process.pid], signal.SIGSTOP)
        ratio("replica stopped")
        pause([s.replica.process.pid], signal.SIGCONT)
        ratio("replica running again")
        pause([x.process.pid for x in s.sentinels], signal.SIGSTOP)
        ratio("sentinels stopped")
        pause([x.process.pid for x in s.sentinels], signal.SIGCONT)
        client(s.primary.port).config_set("repl-disable-tcp-nodelay", "yes")
        ratio("repl-disable-tcp-nodelay yes")
        single.close(), primary.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=5, help="jobs per slice (14 store calls each)")
    ap.add_argument("--clients", action="store_true", help="redis-py in threads vs coredis on trio")
    ap.add_argument("--replication", action="store_true",
                    help="where a replicated primary's extra latency goes (replica/sentinels paused, Nagle)")
    args = ap.parse_args()
    if args.replication:
        print(json.dumps({"replication_ratio_to_single": replication_costs(args.turns, args.jobs)}))
        return
    if args.clients:
        with throwaway_redis() as server:
            print(json.dumps({"clients_us_per_call": compare_clients(server.url, server.port, args.turns)}))
        return
    with ExitStack() as stack:
        single = stack.enter_context(throwaway_redis())
        sentinel = stack.enter_context(sentinel_setup())
        cluster = stack.enter_context(cluster_setup())
        replicated = f"redis://127.0.0.1:{sentinel.primary.port}/0"  # the Sentinel primary, asked directly
        urls = {"single": single.url, "replicated": replicated, "sentinel": sentinel.url(), "sentinel_durable": sentinel.url(min_replicas=1),
                "cluster": cluster.url(), "cluster_durable": cluster.url(min_replicas=1)}
        stores = {name: RedisStore.from_url(url, "bench:", finished_ttl_s=60) for name, url in urls.items()}
        for store in stores.values():
            round_us(store, 20)  # connect, load scripts, warm up
        slices: dict[str, list[float]] = {name: [] for name in stores}
        names = list(stores)
        for turn in range(args.turns):
            for name in names[turn % len(names):] + names[:turn % len(names)]:  # rotate who goes first
                slices[name].append(round_us(stores[name], args.jobs))
        short = {name: s.link.short_waits for name, s in stores.items()}
        for store in stores.values():
            store.close()
    us = {name: round(statistics.median(v), 1) for name, v in slices.items()}
    paired = {name: [a / b for a, b in zip(v, slices["single"])] for name, v in slices.items()}
    ratio = {name: round(statistics.median(v), 2) for name, v in paired.items()}
    iqr = {name: quartiles(v) for name, v in paired.items()}
    # What the Sentinel and Cluster clients cost over a primary that feeds a
    # replica too: the same work on the server, so the difference is the client path.
    over = {name: round(statistics.median([a / b for a, b in zip(slices[name], slices["replicated"])]), 2)
            for name in ("sentinel", "cluster")}
    for name in us:
        print(f"{name:17s} {us[name]:7.1f} us/call  {ratio[name]:.2f}x single  (quartiles {iqr[name][0]}-"
              f"{iqr[name][1]}x)")
    print(f"client path: sentinel {over['sentinel']:.2f}x, cluster {over['cluster']:.2f}x the replicated primary")
    print(json.dumps({"us_per_call": us, "ratio_to_single": ratio, "ratio_quartiles": iqr,
                      "ratio_to_replicated": over,
                      "short_waits": short, "turns": args.turns, "jobs_per_slice": args.jobs,
                      "calls_per_job": CALLS_PER_JOB}))


if __name__ == "__main__":
    main()
