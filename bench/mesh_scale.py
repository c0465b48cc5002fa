"""How large a real in-process mesh runs stably here, and its throughput.

For each size, one ``hivemesh simulate --scenario steady`` run (real
py-libp2p peers on loopback in this one process, real gateway and worker
code, simulated models): a mesh of N peers (2 gateways, N-2 workers) takes
three-stage jobs at the offered rate for the given duration. A size is
*stable* when the mesh formed, every job completed once (none failed, lost
or duplicated), the clients' views held every live peer in at least 99% of
the samples, and the mesh kept up: throughput at least 90% of the offered
rate and p99 latency under 5 s. The event loop's lag is reported beside.
Throughput and latency are also given as a ratio to the smallest size,
measured in the same run.

With ``--processes`` every peer is its own OS process (``simulate
--processes``, a throwaway Redis) and each size first idles ``--idle``
seconds once formed: the row then gives an idle peer's CPU (from its CPU
time, % of one core) and memory (RSS; USS, the pages only it holds; PSS, USS
plus its share of the pages it shares: peers forked from one template share
the imported code, and the PSS of all peers sums to what they use), with the
goals of issue 13 (<= 1% of a core, <= 80 MB). The issue's 100-peer run:

    PYTHONPATH=. .venv/bin/python bench/mesh_scale.py --processes --sizes 100 --rate 1 --duration 60 --idle 60

    PYTHONPATH=. .venv/bin/python bench/mesh_scale.py [--sizes 8,16,24,32] [--rate 4] [--duration 30]

The last line is JSON: {"sizes": [...], "largest_stable": N, ...}; each row
carries the harness's verdict on itself (``harness_saturated``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import trio

from hivemesh.simulations.harness import run_simulation
from hivemesh.simulations.settings import SimSettings

MIN_VIEWS_COMPLETE = 0.99
MIN_KEEP_UP = 0.9  # of the offered rate
MAX_P99_S = 5.0
IDLE_CPU_GOAL = 1.0  # % of one core per idle peer
IDLE_RSS_GOAL_MB = 80.0


def stable(report: dict, offered: float) -> bool:
    jobs, mesh = report["jobs"], report["mesh"]
    return bool(mesh["formed"] and jobs["completed"] == jobs["submitted"]
                and jobs["failed"] == jobs["lost"] == jobs["duplicated"] == 0
                and (mesh["view_complete_fraction"] or 0) >= MIN_VIEWS_COMPLETE
                and (report["throughput_jobs_s"] or 0) >= MIN_KEEP_UP * offered
                and (report["latency_s"]["p99"] or MAX_P99_S) < MAX_P99_S)


def row(n: int, report: dict, offered: float) -> dict:
    jobs, lat, mesh, res = report["jobs"], report["latency_s"], report["mesh"], report["resources_per_peer"]
    return {
        "peers": n, "stable": stable(report, offered), "jobs": jobs,
        "throughput_jobs_s": report["throughput_jobs_s"], "advert_period_s": report["adverts"]["expected_period_s"],
        "latency_p50_s": lat["p50"], "latency_p99_s": lat["p99"], "formed_in_s": mesh["formed_in_s"],
        "views_complete": mesh["view_complete_fraction"], "loop_lag_p99_s": mesh["harness_loop_lag_s"]["p99"],
        "process_cpu_percent": res["harness_cpu_percent"], "rss_mb_per_peer": res["rss_mb"]["mean"],
        "gossip_rpcs_per_peer_s": report["gossip_per_peer"]["rpcs_out_s"],
        "harness_saturated": report["harness"]["saturated"], "harness_why": report["harness"]["why"],
        "failures": report["failures"], **_idle(report.get("idle_per_peer")),
    }


def _idle(idle: dict | None) -> dict:
    if not idle:
        return {}
    cpu, rss = idle["cpu_percent"]["mean"], idle["rss_mb"]["mean"]
    pss = idle["pss_mb"]["mean"]
    return {"idle_cpu_percent": cpu, "idle_cpu_percent_max": idle["cpu_percent"]["max"], "idle_rss_mb": rss,
            "idle_uss_mb": idle["uss_mb"]["mean"], "idle_pss_mb": pss, "idle_cpu_goal": cpu <= IDLE_CPU_GOAL,
            "idle_rss_goal": rss <= IDLE_RSS_GOAL_MB, "idle_pss_goal": pss <= IDLE_RSS_GOAL_MB}


async def measure(args: argparse.Namespace) -> dict:
    rows = []
    for n in args.sizes:
        settings = SimSettings(scenario="steady", peers=n, gateways=2, rate=args.rate, duration=args.duration,
                               stages=3, seed=args.seed, advert_interval=args.advert_interval, plots=False,
                               advert_budget=args.advert_budget,
                               join_timeout=args.join_timeout, processes=args.processes, idle=args.idle,
                               out=args.out / f"{n}-peers" if args.out else None)
        report = await run_simulation(settings)
        rows.append(row(n, report, args.rate))
        r = rows[-1]
        print(f"{n:4d} peers: stable={r['stable']} {r['jobs']} {r['throughput_jobs_s']} jobs/s, "
              f"p50 {r['latency_p50_s']} s, p99 {r['latency_p99_s']} s, views {r['views_complete']}, "
              f"lag p99 {r['loop_lag_p99_s']} s, cpu {r['process_cpu_percent']}%"
              + (f"; idle peer {r['idle_cpu_percent']}% of a core, {r['idle_rss_mb']} MB RSS "
                 f"({r['idle_uss_mb']} MB own, PSS {r['idle_pss_mb']} MB)" if "idle_cpu_percent" in r else "")
              + (f"; HARNESS SATURATED: {r['harness_why']}" if r["harness_saturated"] else ""), flush=True)
    base = rows[0]
    for r in rows:
        r["throughput_ratio"] = _ratio(r["throughput_jobs_s"], base["throughput_jobs_s"])
        r["latency_p50_ratio"] = _ratio(r["latency_p50_s"], base["latency_p50_s"])
    good = [r["peers"] for r in rows if r["stable"]]
    mode = "processes (real peers)" if args.processes else "in-process (real peers)"
    return {"mode": mode, "idle_s": args.idle, "offered_jobs_s": args.rate, "duration_s": args.duration,
            "advert_interval_s": args.advert_interval, "advert_budget": args.advert_budget, "sizes": rows,
            "largest_stable": max(good, default=None)}


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 3) if value and base else None


def main() -> None:
    import libp2p  # noqa: F401  (it sets up its loggers on import)

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # expected churn, logged as errors
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 24, 32])
    parser.add_argument("--rate", type=float, default=4.0, help="offered jobs per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of job arrivals per size")
    parser.add_argument("--advert-interval", type=float, default=2.0)
    parser.add_argument("--advert-budget", type=float, help="adverts/s each peer takes from the mesh "
                        "(simulate's default when not given)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", action="store_true", help="every peer its own OS process")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds each formed mesh idles, measured")
    parser.add_argument("--join-timeout", type=float, default=120.0, help="seconds for each mesh to form")
    parser.add_argument("--out", type=Path, help="keep each size's report (and peer logs) under DIR/N-peers")
    args = parser.parse_args()
    print(json.dumps(trio.run(measure, args)))


if __name__ == "__main__":
    main()
