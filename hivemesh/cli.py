"""The ``hivemesh`` command. It configures logging and prints; nothing else does."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hivemesh import __version__
from hivemesh.errors import HivemeshError, first_error

log = logging.getLogger("hivemesh.cli")


def _common(p: argparse.ArgumentParser, *, listen: bool = True) -> None:
    p.add_argument("--config", type=Path, help="TOML settings file")
    p.add_argument("--bootstrap", action="append", metavar="MULTIADDR",
                   help="bootstrap peer .../tcp/PORT/p2p/ID (repeatable)")
    p.add_argument("--advert-interval", type=float, metavar="S",
                   help="seconds between adverts, the shortest (default 2)")
    p.add_argument("--advert-budget", type=float, metavar="PER_S",
                   help="stretch the interval to N/PER_S s in a mesh of N peers (default 10; 0: fixed)")
    p.add_argument("--log-level", help="debug, info, warning, error")
    p.add_argument("--swarm-key", type=Path, metavar="FILE", help="private swarm: libp2p PSK file (hivemesh keygen)")
    if listen:
        p.add_argument("--listen", action="append", metavar="MULTIADDR",
                       help="listen address (default /ip4/127.0.0.1/tcp/0)")
        p.add_argument("--identity", type=Path, help="Ed25519 identity file (created 0600 if missing)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hivemesh", description="A cloud LLM plans, a peer-to-peer mesh of small language models does the work.")
    parser.add_argument("--version", action="version", version=f"hivemesh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("bootstrap", help="run a bootstrap peer; prints its multiaddr first")
    _common(p)
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at http://HOST:PORT/metrics")

    p = sub.add_parser("peer", help="run a worker peer (optionally gateway-eligible)")
    _common(p)
    p.add_argument("--model", action="append", metavar="CAP=SPEC",
                   help="serve capability CAP with model SPEC (path, bundled, hf:..., sim:...)")
    p.add_argument("--tools", type=lambda v: [t for t in v.split(",") if t], metavar="LIST",
                   help="tools served besides the models: math,join (default) or none")
    p.add_argument("--slots", type=int, help="concurrent subtasks (default from cores)")
    p.add_argument("--threads", type=int, help="llama.cpp threads per model")
    p.add_argument("--n-ctx", type=int, help="model context size")
    p.add_argument("--n-gpu-layers", type=int, help="layers to offload to a GPU")
    p.add_argument("--gateway", action="store_true", default=None, help="be gateway-eligible")
    p.add_argument("--redis", metavar="URL",
                   help="the gateway's store: redis://H:P/DB, redis+sentinel://H:P[,H:P...]/SERVICE[/DB] "
                        "or redis+cluster://H:P[,H:P...] (rediss+... for TLS; ?min_replicas=N to WAIT for replicas)")
    p.add_argument("--planner-model", help="gateway's offline planner model spec, or none (default: rules)")
    p.add_argument("--planner-preview", type=int, metavar="CHARS",
                   help="characters of each input the planner may see (0-200, default 200)")
    p.add_argument("--check-share", type=float, metavar="F",
                   help="gateways check workers' outputs by having another worker on the same weights score "
                        "them: every output of a worker new to the gateways' shared record (its first 20), this "
                        "share of a trusted one's (0-1; default 0.05; below 0: no checks). An output no other "
                        "worker could check is used unchecked and the result says so")
    p.add_argument("--http", metavar="HOST:PORT", help="serve the OpenAI-compatible API here (needs --gateway)")
    p.add_argument("--api-key", action="append", metavar="KEY", help="a bearer key the API takes (repeatable)")
    p.add_argument("--api-key-file", type=Path, metavar="FILE", help="bearer keys, one a line")
    p.add_argument("--http-max-jobs", type=int, metavar="N", help="API jobs in flight before 429 busy (default 32)")
    p.add_argument("--max-jobs", type=int, metavar="N",
                   help="jobs this gateway runs at once before it answers busy (default: 2 per worker slot in "
                        "its view, shared among the gateways; at least 4)")
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at http://HOST:PORT/metrics")

    p = sub.add_parser("keygen", help="write a new identity and/or private swarm key")
    p.add_argument("--identity", type=Path, help="write an Ed25519 identity here (0600)")
    p.add_argument("--swarm-key", type=Path, metavar="FILE", help="write a new swarm key here (0600)")
    p.add_argument("--log-level", help=argparse.SUPPRESS)

    p = sub.add_parser("status", help="join briefly as an observer and print the mesh")
    _common(p, listen=False)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--timeout", type=float, default=15.0, help="give up after S seconds")

    p = sub.add_parser("simulate", help="load-test a mesh of real peers with simulated models")
    p.add_argument("--log-level", help="debug, info, warning, error")
    from hivemesh.simulations.command import add_arguments

    add_arguments(p)

    p = sub.add_parser("submit", help="submit a job to the mesh and print the answer")
    _common(p, listen=False)
    _job_args(p)
    p.add_argument("--job-id", help="your id for the job: resubmitting it attaches to the same job")
    p.add_argument("--gateways", type=int, help="k of the gateway election (default 3)")

    p = sub.add_parser("eval", help="score the mesh against a single model (and Claude) on the bundled task suite")
    _common(p, listen=False)
    p.add_argument("--planner-model", help="offline planner's model spec, or none")
    from hivemesh.eval.command import add_arguments as add_eval_arguments

    add_eval_arguments(p)

    p = sub.add_parser("demo", help="a whole mesh in this process: bootstrap, gateway, 3 workers")
    p.add_argument("--log-level", help="debug, info, warning, error")
    p.add_argument("--planner-model", help="offline planner's model spec, or none")
    _job_args(p, required=False)
    return parser


def _job_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("text", nargs=None if required else "?", help="what to do")
    p.add_argument("--input", action="append", type=Path, metavar="FILE", help="input document (repeatable)")
    p.add_argument("--aggregate", action="store_true", help="have the planner LLM write the final answer")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")


_SETTING_FLAGS = ("swarm_key", "bootstrap", "advert_interval", "advert_budget", "log_level", "listen", "identity", "slots",
                  "threads", "n_ctx", "n_gpu_layers", "gateway", "redis", "gateways", "planner_model", "tools", "planner_preview",
                  "check_share", "http", "api_key", "api_key_file", "http_max_jobs", "max_jobs", "metrics")


def settings_from(args: argparse.Namespace) -> Any:
    from hivemesh import config

    flags = {k: getattr(args, k, None) for k in _SETTING_FLAGS}
    flags["models"] = getattr(args, "model", None)
    return config.load(flags, getattr(args, "config", None))


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    import libp2p  # noqa: F401  (it configures its loggers on import; ours must come after)

    # py-libp2p logs expected churn (a dial to a dead peer, a bootstrap without
    # gossip) as errors; our own lines report what matters.
    logging.getLogger("libp2p").setLevel(logging.DEBUG if level.lower() == "debug" else logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        quiet = args.command in ("status", "submit", "demo", "simulate", "eval")
        _setup_logging(settings.log_level or ("warning" if quiet else "info"))
        from hivemesh import commands

        return commands.run(args, settings)
    except (HivemeshError, BaseExceptionGroup) as exc:
        error = first_error(exc)
        if error is None:
            raise
        print(f"hivemesh: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, sort_keys=True), flush=True)
