"""What each ``hivemesh`` subcommand does, under ``trio.run``."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from typing import Any

import trio

from hivemesh import progress
from hivemesh.cli import print_json
from hivemesh.config import Settings
from hivemesh.errors import ConfigError


def run(args: argparse.Namespace, settings: Settings) -> int:
    handler: Callable[[argparse.Namespace, Settings], Any] = _COMMANDS[args.command]
    return trio.run(handler, args, settings) or 0


async def _serve_until_signalled(first_line: str) -> None:
    """Print ``first_line`` (the multiaddr) once SIGINT/SIGTERM are caught, then wait for one."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        print(first_line, flush=True)
        async for _ in signals:
            return


async def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.bootstrap.node import bootstrap_config
    from hivemesh.mesh.node import MeshNode

    from hivemesh.api.metrics import served_metrics

    node = MeshNode(bootstrap_config(settings))
    async with node.run(), served_metrics(settings.metrics, node):
        await _serve_until_signalled(node.full_addrs()[0])
    return 0


async def cmd_peer(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.peer.daemon import run_peer

    if not settings.bootstrap:
        raise ConfigError("peer needs at least one --bootstrap MULTIADDR")
    async with run_peer(settings) as peer:
        await _serve_until_signalled(peer.node.full_addrs()[0])
    return 0


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.mesh.observe import observe

    if not settings.bootstrap:
        raise ConfigError("status needs --bootstrap MULTIADDR")
    snap = await observe(settings.bootstrap, settings.advert_interval, args.timeout, settings.psk())
    if args.json:
        print_json(snap)
    else:
        print(format_table(snap))
    return 0


def _inputs(args: argparse.Namespace) -> list[str]:
    texts = []
    for path in args.input or []:
        try:
            texts.append(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read input {path}: {exc.strerror}") from None
    return texts


async def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.client import Client

    if not settings.bootstrap:
        raise ConfigError("submit needs --bootstrap MULTIADDR")
    client = Client(settings.bootstrap, advert_interval=settings.advert_interval, k=settings.gateways,
                    psk=settings.psk())
    printer = None if args.json else progress.AnswerPrinter()  # the answer as it grows, then the figures
    result = await client.submit_async(args.text, _inputs(args), job_id=args.job_id, aggregate=args.aggregate,
                                       on_event=printer, tokens=printer is not None)
    return _report(args, result, printer)


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.demo import run_demo

    inputs = _inputs(args)
    if not args.json:
        progress.say("starting a bootstrap, a gateway and 3 workers (Gemma 3 270M x2, SmolLM2 135M) on loopback")
    result = await run_demo(settings, args.text, inputs, on_event=None if args.json else progress.print_event)
    return _report(args, result)


def _report(args: argparse.Namespace, result: Any, printer: Any = None) -> int:
    from hivemesh.client import result_to_json

    if args.json:
        print_json(result_to_json(result))
    else:
        print(printer.format_result(result) if printer is not None else progress.format_result(result))
    return 0 if result.status == "done" else 1


def format_table(snap: dict[str, Any]) -> str:
    now = time.time()
    rows = [("PEER", "ROLES", "MODELS", "SLOTS", "QUEUE", "SEEN", "ADDR")]
    for p in snap["peers"]:
        models = ", ".join(
            f"{m['name']}[{'/'.join(m['capabilities'])}] {m['tokens_per_second']:.0f}t/s" for m in p["models"]
        ) or "-"
        cap = p["capacity"]
        rows.append((
            p["peer_id"][-12:], ",".join(p["roles"]) or "-", models,
            f"{cap['slots_free']}/{cap['slots_total']}", str(cap["queue"]),
            f"{now - p['last_seen']:.1f}s", (p["addrs"] or ["-"])[0],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(snap["rejected"].items())) or "none"
    lines.append(f"{len(snap['peers'])} peers; rejected adverts: {rejected}")
    return "\n".join(lines)


async def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.mesh import identity, swarmkey

    if args.identity is None and args.swarm_key is None:
        raise ConfigError("keygen needs --identity PATH and/or --swarm-key PATH")
    for path in (args.identity, args.swarm_key):
        if path is not None and path.exists():
            raise ConfigError(f"{path} exists; refusing to overwrite a key")
    if args.identity is not None:
        keypair = identity.generate()
        identity.save(keypair, args.identity)
        print(f"identity {args.identity} peer id {identity.peer_id_of(keypair)}")
    if args.swarm_key is not None:
        swarmkey.save(swarmkey.generate(), args.swarm_key)
        print(f"swarm key {args.swarm_key}: give it (mode 0600) to every peer of the swarm, with --swarm-key")
    return 0


async def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.simulations import command

    report = await command.run(args)
    if args.json:
        print_json(report)
    else:
        print(command.format_report(report))
    return 0


async def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from hivemesh.eval import command
    from hivemesh.eval.report import format_table

    bar = command.Progress()
    summary, notes = await command.run(args, settings, on_start=bar.start, on_result=bar.update)
    print(format_table(summary))
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {summary['out']}/eval.json, results.csv, eval.png ({summary['wall_s']:.0f}s)")
    if args.json:
        print_json(summary)
    return 0


_COMMANDS: dict[str, Callable[..., Any]] = {
    "eval": cmd_eval,
    "simulate": cmd_simulate,
    "keygen": cmd_keygen,
    "bootstrap": cmd_bootstrap,
    "peer": cmd_peer,
    "status": cmd_status,
    "demo": cmd_demo,
    "submit": cmd_submit,
}
