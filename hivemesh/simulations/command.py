"""``hivemesh simulate``: its flags, its run, its table.

``add_arguments(parser)`` adds every flag; ``await run(args)`` runs the
simulation the flags describe and returns its report (a JSON-able dict),
having written the report's files under ``--out``; ``format_report(report)``
renders either kind of report as a table. With ``--model-only`` nothing is
started: the discrete-event gossip model runs instead
(``model_only.run_model_only``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from hivemesh.simulations.settings import SCENARIOS, SimSettings

log = logging.getLogger(__name__)

DEFAULTS = SimSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``hivemesh simulate``."""
    _run_flags(parser)
    _fault_flags(parser)
    _model_only_flags(parser)
    parser.add_argument("--out", type=Path, default=Path("simulate-out"), metavar="DIR",
                        help="write report.json, jobs.csv and PNG plots here (default ./simulate-out)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the report)")


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=SCENARIOS, default=DEFAULTS.scenario, help="what to simulate")
    p.add_argument("--peers", type=int, default=DEFAULTS.peers, metavar="N",
                   help="peers: workers plus gateways (default 8)")
    p.add_argument("--gateways", type=int, default=DEFAULTS.gateways, metavar="K",
                   help="gateway peers, all elected (default 2)")
    p.add_argument("--jobs", type=int, metavar="M", help="jobs to submit (default 20, or rate x duration)")
    p.add_argument("--rate", type=float, metavar="JOBS_PER_S", help="job arrival rate (default 2/s)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds of job arrivals")
    p.add_argument("--stages", type=int, default=DEFAULTS.stages, help="pipeline length of every job (default 3)")
    p.add_argument("--model-latency", default=DEFAULTS.model_latency, metavar="DIST",
                   help="each worker model's latency: fixed:200ms, uniform:100ms,300ms, lognormal:200ms,0.5")
    p.add_argument("--model-tps", default=DEFAULTS.model_tps, metavar="DIST",
                   help="each worker model's tokens/s: fixed:50, uniform:20,80, lognormal:50,0.3 (0: at once)")
    p.add_argument("--reply-words", type=int, default=DEFAULTS.reply_words, help="tokens per simulated reply")
    p.add_argument("--slots", type=int, default=DEFAULTS.slots, help="concurrent subtasks per worker (default 2)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the job and fault schedule")
    p.add_argument("--processes", action="store_true",
                   help="run each peer as an OS process (kills are real kill -9; uses a throwaway Redis)")
    p.add_argument("--no-fork-server", action="store_false", dest="fork_server",
                   help="with --processes: start each peer with its own python -m instead of forking it "
                        "from one process that imported the peer code once (whose pages the peers share)")
    p.add_argument("--redis", action="store_true", dest="sim_redis",  # not the peers' --redis URL setting
                   help="in-process gateways share a throwaway redis-server instead of the in-process store")
    p.add_argument("--advert-interval", type=float, default=DEFAULTS.advert_interval, metavar="S",
                   help="peers' shortest advert interval (default 2 s, as hivemesh; the model-only run uses it too)")
    p.add_argument("--advert-budget", type=float, metavar="PER_S",
                   help="adverts/s each peer takes from the mesh; the interval stretches to N/PER_S s (default: "
                        "hivemesh's 10 for --processes, 40/N in one process, whose peers share a core; 0: fixed)")
    p.add_argument("--clients", type=int, default=DEFAULTS.clients, help="observer nodes submitting jobs")
    p.add_argument("--job-timeout", type=float, default=DEFAULTS.job_timeout, metavar="S",
                   help="after the last arrival, wait this long for every job to end (the drain); "
                        "a job with no final event then counts as lost (default 60)")
    p.add_argument("--idle", type=float, default=DEFAULTS.idle, metavar="S",
                   help="let the formed mesh idle this long before the first job and report each idle "
                        "peer's CPU and memory (default 0: no idle phase)")
    p.add_argument("--join-timeout", type=float, default=DEFAULTS.join_timeout, metavar="S",
                   help="how long to wait for the mesh to form (default 60)")


def _fault_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kills", type=int, metavar="N",
                   help="kills in kill-workers/kill-gateway (default 3 / 1), at random moments")
    p.add_argument("--kill-at", metavar="S,S,...", help="kill at these seconds after the first job instead")
    p.add_argument("--kill-target", choices=("busy", "random"), default=DEFAULTS.kill_target,
                   help="kill a peer holding work (default) or any peer")
    p.add_argument("--respawn-delay", type=float, default=DEFAULTS.respawn_delay, metavar="S",
                   help="a replacement for a killed/departed peer starts this much later (default 1)")
    p.add_argument("--slow-death", type=float, default=DEFAULTS.slow_death, metavar="S",
                   help="a killed worker keeps working while its connections close one by one over S seconds "
                        "(in-process only; default 0: all at once)")
    p.add_argument("--churn-rate", type=float, metavar="PER_S",
                   help="workers leaving (and being replaced) per second (churn default 0.5)")
    p.add_argument("--burst-size", type=int, help="jobs per burst (burst default: a quarter of the jobs)")
    p.add_argument("--burst-every", type=float, default=DEFAULTS.burst_every, metavar="S",
                   help="seconds between bursts (default 3)")
    p.add_argument("--slow-fraction", type=float, default=DEFAULTS.slow_fraction, metavar="F",
                   help="fraction of workers with added network latency (default 0)")
    p.add_argument("--slow-latency", default="fixed:100ms", metavar="DIST",
                   help="latency added to each frame a slow worker sends on a direct stream (default fixed:100ms)")
    p.add_argument("--liars", type=int, metavar="N",
                   help="liars scenario: workers that lie (a different model, random text, a subtly altered "
                        "answer, lying a third of the time; default 2)")
    p.add_argument("--liar-kinds", metavar="K,K,...",
                   help="liars scenario with --model-only: the liars' kinds in turn (model, random, subtle, sometimes)")
    p.add_argument("--check-share", type=float, default=DEFAULTS.check_share, metavar="F",
                   help="liars scenario: share of a trusted worker's outputs the gateways check (default 0.05)")


def _model_only_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model-only", "a discrete-event model of advert gossip; no peers are started")
    g.add_argument("--model-only", action="store_true", help="run the gossip model instead of real peers")
    g.add_argument("--degree", type=int, default=6, help="gossip mesh degree (default 6)")
    g.add_argument("--link-latency", default="lognormal:40ms,0.5", metavar="DIST", help="one-way link latency")
    g.add_argument("--loss", type=float, default=0.0, help="chance each transmission is lost")
    g.add_argument("--origins", type=int, default=20, help="publishers to average over")
    g.add_argument("--no-lazy", action="store_true", help="eager push only (no IHAVE/IWANT)")
    g.add_argument("--connections", type=int, default=12, help="connected peers per peer")
    g.add_argument("--bandwidth-mbps", type=float, default=20.0, help="each peer's uplink")
    g.add_argument("--eligible", type=int, default=20, help="gateway-eligible peers before the joins")


def settings_from(args: argparse.Namespace) -> SimSettings:
    """``SimSettings`` from parsed flags (checked later by ``resolve``)."""
    from hivemesh.simulations.errors import SimConfigError

    try:
        kill_at = tuple(float(t) for t in args.kill_at.split(",")) if args.kill_at else ()
    except ValueError:
        raise SimConfigError(f"--kill-at wants seconds separated by commas, got {args.kill_at!r}") from None
    return SimSettings(
        scenario=args.scenario, peers=args.peers, gateways=args.gateways, jobs=args.jobs, rate=args.rate,
        duration=args.duration, stages=args.stages, model_latency=args.model_latency, model_tps=args.model_tps,
        reply_words=args.reply_words, slots=args.slots, seed=args.seed, out=args.out, processes=args.processes,
        fork_server=args.fork_server, redis=args.sim_redis, advert_interval=args.advert_interval,
        advert_budget=args.advert_budget,
        kills=args.kills, kill_at=kill_at,
        kill_target=args.kill_target, respawn_delay=args.respawn_delay, slow_death=args.slow_death, churn_rate=args.churn_rate,
        burst_size=args.burst_size, burst_every=args.burst_every, slow_fraction=args.slow_fraction,
        slow_latency=args.slow_latency if args.slow_fraction > 0 else "fixed:0s", clients=args.clients,
        job_timeout=args.job_timeout, join_timeout=args.join_timeout, idle=args.idle,
        plots=not args.no_plots, liars=args.liars, check_share=args.check_share,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run what ``args`` describe; return the report (files are under ``--out``)."""
    if args.model_only and args.scenario == "liars":
        return _liars_model(args)
    if args.model_only:
        return _model_only(args)
    from hivemesh.simulations.harness import run_simulation

    return await run_simulation(settings_from(args))


def _liars_model(args: argparse.Namespace) -> dict[str, Any]:
    """The liars scenario without a network (``liars_model``): workers are --peers minus --gateways."""
    from hivemesh.simulations.errors import SimConfigError
    from hivemesh.simulations.liars import KINDS
    from hivemesh.simulations.liars_model import Model

    workers = args.peers - args.gateways
    liars = 2 if args.liars is None else args.liars
    kinds = tuple(k for k in (args.liar_kinds or "").split(",") if k)
    if workers < 1 or not 0 <= liars <= workers or any(k not in KINDS for k in kinds):
        raise SimConfigError(f"need 0 <= --liars <= workers ({workers}) and --liar-kinds among {', '.join(KINDS)}")
    report = Model(workers=workers, liars=liars, stages=args.stages, jobs=args.jobs or 1000,
                   check_share=args.check_share, seed=args.seed, kinds_of_liars=kinds).run()
    return _written(report, args.out, "liars-model.json")


def _model_only(args: argparse.Namespace) -> dict[str, Any]:
    from hivemesh.mesh import cadence
    from hivemesh.gateway.election import elect
    from hivemesh.simulations.model_only import run_model_only

    budget = cadence.DEFAULT_BUDGET if args.advert_budget is None else args.advert_budget
    period = cadence.advert_period(args.advert_interval, args.peers, budget)  # what real peers would use
    report = run_model_only(
        args.peers, degree=args.degree, latency=args.link_latency, loss=args.loss,
        interval=period, origins=args.origins, seed=args.seed, lazy=not args.no_lazy,
        connections=args.connections, bandwidth_mbps=args.bandwidth_mbps, k=args.gateways,
        eligible=args.eligible, elect=elect,
    )
    report["advert_cadence"] = {"min_interval_s": args.advert_interval, "budget_per_peer_s": budget,
                                "period_s": round(period, 3), "ceiling_s": cadence.DEFAULT_CEILING_S}
    return _written(report, args.out, "model-only.json")


def _written(report: dict[str, Any], out: Path | None, name: str) -> dict[str, Any]:
    """``report``, also written to ``out/name`` (listed in its ``files``) when ``out`` is set."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / name
        report["files"] = [str(path)]
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def format_report(report: dict[str, Any]) -> str:
    """The table for either kind of report."""
    if str(report.get("mode", "")).startswith("model-only (pipeline"):
        return json.dumps(report, indent=2, sort_keys=True)
    if str(report.get("mode", "")).startswith("model-only"):
        from hivemesh.simulations.model_only import format_report as model_only_table

        return model_only_table(report)
    from hivemesh.simulations.table import format_report as real_table

    return real_table(report)
