"""``hivemesh eval``: its flags, its run, and its progress bar (stderr).

``add_arguments(parser)`` adds the flags; ``await run(args, settings,
on_result)`` runs the suite and writes the files under ``--out``, returning
the summary (the ``--json`` object) and notes. ``Progress`` is the bar the
CLI shows while it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from hivemesh.config import Settings
from hivemesh.eval.runner import SYSTEMS, EvalOptions, Result


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embedded", action="store_true",
                       help="run the mesh in this process, like the demo (default without --bootstrap)")
    p.add_argument("--systems", default=",".join(SYSTEMS), metavar="LIST",
                   help=f"comma-separated, from {', '.join(SYSTEMS)} (default all; cloud ones need ANTHROPIC_API_KEY)")
    p.add_argument("--limit", type=int, metavar="N", help="run the first N tasks (spread over capabilities)")
    p.add_argument("--capability", action="append", metavar="C",
                   help="only tasks of this capability (repeatable, or comma-separated)")
    p.add_argument("--out", type=Path, default=Path("eval-out"), metavar="DIR",
                   help="write eval.json, results.csv and eval.png here (default ./eval-out)")
    p.add_argument("--single-model", action="append", metavar="SPEC",
                   help="the model of the single system (default bundled: Gemma 3 270M); given again, "
                        "each further model also answers alone, as system single:<model>")
    p.add_argument("--mesh-model", action="append", metavar="SPEC",
                   help="also run an embedded mesh whose workers serve every model capability with this one "
                        "model (the tools as usual), as system mesh:<model>; repeatable (compares model maps)")
    p.add_argument("--task-timeout", type=float, default=120.0, metavar="S",
                   help="give up on one system's answer to one task after S seconds (default 120)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line at the end")
    p.add_argument("--figures", type=Path, metavar="PATH",
                   help="also save the per-capability scores in the format results quote (hivemesh/eval/figures.json)")


def options_from(args: argparse.Namespace, settings: Settings) -> EvalOptions:
    from hivemesh.errors import ConfigError

    if args.embedded and settings.bootstrap:
        raise ConfigError("give either --embedded or --bootstrap, not both")
    caps = tuple(c.strip() for arg in args.capability or () for c in arg.split(",") if c.strip())
    return EvalOptions(systems=tuple(s.strip() for s in args.systems.split(",") if s.strip()),
                       embedded=not settings.bootstrap, capabilities=caps, limit=args.limit,
                       single_model=(args.single_model or ["bundled"])[0],
                       more_single_models=tuple((args.single_model or [])[1:]),
                       mesh_models=tuple(args.mesh_model or ()),
                       task_timeout=args.task_timeout, out=args.out)


async def run(args: argparse.Namespace, settings: Settings,
              on_start: Callable[[int, list[str]], None] | None = None,
              on_result: Callable[[Result], None] | None = None) -> tuple[dict[str, Any], list[str]]:
    from hivemesh.eval import files, report
    from hivemesh.eval.runner import open_systems, run_suite, skipped_systems
    from hivemesh.eval.suite import load_suite, select

    options = options_from(args, settings)
    tasks = select(load_suite(), options.capabilities, options.limit)
    skipped = skipped_systems(options, settings)
    if all(name in skipped for name in options.systems):
        from hivemesh.errors import ConfigError

        reasons = "; ".join(f"{n}: {skipped[n]}" for n in options.systems)
        raise ConfigError(f"no system can run ({reasons})")
    started = time.monotonic()
    async with open_systems(options, settings) as systems:
        names = [s.name for s in systems]
        if on_start is not None:
            on_start(len(tasks) * len(systems), names)
        results = await run_suite(tasks, systems, task_timeout=options.task_timeout, on_result=on_result)
    summary = report.summarize(results, names, skipped, len(tasks))
    meta = {"command": " ".join(["hivemesh", *sys.argv[1:]]) if sys.argv else "", "wall_s": round(time.monotonic() - started, 1),
            "systems": names, "single_model": options.single_model,
            "more_single_models": list(options.more_single_models), "task_timeout_s": options.task_timeout,
            "mesh": "embedded" if options.embedded else "bootstrap"}
    notes = files.write_all(options.out, summary, results, meta)
    if args.figures is not None:
        from hivemesh.eval import figures

        figures.write(args.figures, summary, meta["command"])
    summary["wall_s"] = meta["wall_s"]
    summary["out"] = str(options.out)
    return summary, notes


class Progress:
    """A progress bar on ``stream``; one line per answer when it is not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream, self.width = stream or sys.stderr, width
        self.total, self.done, self.started = 0, 0, time.monotonic()
        self.tty = self.stream.isatty()

    def start(self, total: int, systems: list[str]) -> None:
        self.total, self.started = total, time.monotonic()
        self.stream.write(f"eval: {total} answers to get ({', '.join(systems)})\n")
        self.stream.flush()

    def update(self, result: Result) -> None:
        self.done += 1
        filled = int(self.width * self.done / max(1, self.total))
        bar = "#" * filled + "." * (self.width - filled)
        mark = "error" if result.answer.error else f"{result.score.score:.2f}"
        line = (f"[{bar}] {self.done}/{self.total} {time.monotonic() - self.started:5.0f}s  "
                f"{result.system:<11} {result.task.id:<24} {mark} ({result.answer.seconds:.1f}s)")
        self.stream.write(("\r" + line.ljust(110)) if self.tty else line + "\n")
        if self.tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
