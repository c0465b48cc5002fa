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

    .venv/bin/python bench/mesh_scale.py [--sizes 8,16,24,32] [--rate 4] [--duration 30]

The last line is JSON: {"sizes": [...], "largest_stable": N, ...}.
"""

from __future__ import annotations

import argparse
import json
import logging

import trio

from hivemesh.simulations.harness import run_simulation
from hivemesh.simulations.settings import SimSettings

MIN_VIEWS_COMPLETE = 0.99
MIN_KEEP_UP = 0.9  # of the offered rate
MAX_P99_S = 5.0


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
    }


async def measure(args: argparse.Namespace) -> dict:
    rows = []
    for n in args.sizes:
        settings = SimSettings(scenario="steady", peers=n, gateways=2, rate=args.rate, duration=args.duration,
                               stages=3, seed=args.seed, advert_interval=args.advert_interval, plots=False,
                               join_timeout=120.0)
        report = await run_simulation(settings)
        rows.append(row(n, report, args.rate))
        r = rows[-1]
        print(f"{n:4d} peers: stable={r['stable']} {r['jobs']} {r['throughput_jobs_s']} jobs/s, "
              f"p50 {r['latency_p50_s']} s, p99 {r['latency_p99_s']} s, views {r['views_complete']}, "
              f"lag p99 {r['loop_lag_p99_s']} s, cpu {r['process_cpu_percent']}%", flush=True)
    base = rows[0]
    for r in rows:
        r["throughput_ratio"] = _ratio(r["throughput_jobs_s"], base["throughput_jobs_s"])
        r["latency_p50_ratio"] = _ratio(r["latency_p50_s"], base["latency_p50_s"])
    good = [r["peers"] for r in rows if r["stable"]]
    return {"mode": "in-process (real peers)", "offered_jobs_s": args.rate, "duration_s": args.duration,
            "advert_interval_s": args.advert_interval, "sizes": rows, "largest_stable": max(good, default=None)}


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
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(trio.run(measure, args)))


if __name__ == "__main__":
    main()
