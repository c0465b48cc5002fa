"""A simulated peer as an OS process: ``python -m hivemesh.simulations.peerproc``.

It runs the same daemon as ``hivemesh peer`` (``run_peer``), so a kill -9 is a
real crash, with two differences a load test needs: a gateway plans with the
simulation's chain plan (``--stages``) instead of the offline planner, and
the peer writes its counters (gossip, worker, gateway, refused streams) as
JSON to ``--stats`` every two seconds, so they survive its death. Like
``hivemesh peer`` it prints its multiaddr first and stops on SIGTERM/SIGINT.

With ``PEERPROC_PROFILE=DIR`` in its environment (not a ``HIVEMESH_`` name: those are
settings) a peer runs under
cProfile, timed by its own CPU time (``time.process_time``, so a busy machine
does not skew it), and writes ``DIR/<name>-<pid>.prof`` when it stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

STATS_EVERY_S = 2.0  # the file is the harness's; it costs the peer CPU (every 1 s: a tenth of an idle peer's)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hivemesh.simulations.peerproc")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--identity", type=Path, required=True)
    p.add_argument("--stats", type=Path, required=True)
    p.add_argument("--advert-interval", type=float, default=1.0)
    p.add_argument("--advert-budget", type=float, default=10.0)
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--gateway", action="store_true")
    p.add_argument("--redis")
    p.add_argument("--stages", type=int, default=1)
    p.add_argument("--capabilities", type=int, default=1, help="distinct capabilities the plan uses")
    p.add_argument("--added-latency", type=float, default=0.0)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
    import libp2p  # noqa: F401  (configures its loggers on import; ours come after)

    # py-libp2p's own warnings (gossipsub's rate limits, GRAFT floods, scores) are
    # silent unless asked for: PEERPROC_LIBP2P_LOG_LEVEL=warning
    libp2p_level = os.environ.get("PEERPROC_LIBP2P_LOG_LEVEL", "critical").upper()
    logging.getLogger("libp2p").setLevel(getattr(logging, libp2p_level, logging.CRITICAL))


def _settings(args: argparse.Namespace) -> Any:
    from hivemesh import config

    return config.load({
        "bootstrap": [args.bootstrap], "identity": args.identity, "advert_interval": args.advert_interval,
        "advert_budget": args.advert_budget,
        "models": args.model or None, "slots": args.slots, "gateway": args.gateway or None,
        "redis": args.redis, "planner_model": "none", "log_level": args.log_level,
    })


def snapshot(peer: Any) -> dict[str, Any]:
    node = peer.node
    return {
        "t": time.time(), "peer_id": node.peer_id, "view": len(node.view.peers),
        "gossip": dict(node.gossip_stats + Counter(getattr(node, "gossip_rpc", {}))
                       + Counter({f"rejected_{k}": v for k, v in node.view.rejected.items()})),
        "worker": dict(peer.worker.stats) if peer.worker is not None else {},
        "gateway": dict(peer.gateway.stats) if peer.gateway is not None else {},
        "refused": dict(getattr(node, "refused", {})),
    }


def write_stats(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> None:
    from hivemesh.peer.daemon import run_peer
    from hivemesh.planner.offline import ScriptedPlanner
    from hivemesh.simulations.gossipmeter import meter
    from hivemesh.simulations.netdelay import slow_down_class
    from hivemesh.simulations.workload import chain_plan

    slow_down_class(args.added_latency)
    planner = ScriptedPlanner([chain_plan(args.stages, args.capabilities)]) if args.gateway else None
    async with run_peer(_settings(args), planner=planner, worker=not args.gateway) as peer:
        meter(peer.node)
        print(peer.node.full_addrs()[0], flush=True)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stats_loop, args.stats, peer)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()
        write_stats(args.stats, snapshot(peer))


async def _stats_loop(path: Path, peer: Any) -> None:
    while True:
        write_stats(path, snapshot(peer))
        await trio.sleep(STATS_EVERY_S)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _logging(args.log_level)
    from hivemesh.errors import HivemeshError, first_error

    try:
        _run(args)
    except (HivemeshError, BaseExceptionGroup) as exc:
        error = first_error(exc)
        if error is None:
            raise
        print(f"peerproc: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


def _run(args: argparse.Namespace) -> None:
    where = os.environ.get("PEERPROC_PROFILE")
    if not where:
        trio.run(serve, args)
        return
    import cProfile

    profile = cProfile.Profile(time.process_time)
    try:
        profile.runcall(trio.run, serve, args)
    finally:
        Path(where).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(Path(where) / f"{args.identity.stem}-{os.getpid()}.prof"))


if __name__ == "__main__":
    sys.exit(main())
