"""Running the suite: which systems, opened how, and the task loop.

Every task goes to every system, one system after another (they share the
cores; running them side by side would make each one's latency the other's
fault). Each answer gets ``task_timeout`` seconds, then is scored; code
parts are scored in a thread since they wait on a sandboxed process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from hivemesh.config import Settings
from hivemesh.errors import ConfigError
from hivemesh.eval.scorers import TaskScore, score_task
from hivemesh.eval.suite import Task
from hivemesh.eval.systems import Answer, System

log = logging.getLogger(__name__)

SYSTEMS = ("mesh", "single", "cloud", "mesh+claude")
NEEDS_KEY = ("cloud", "mesh+claude")


@dataclass(frozen=True)
class EvalOptions:
    systems: tuple[str, ...] = SYSTEMS
    embedded: bool = True  # False: the mesh over settings.bootstrap
    capabilities: tuple[str, ...] = ()
    limit: int | None = None
    single_model: str = "bundled"
    more_single_models: tuple[str, ...] = ()  # each also answers alone, as system "single:<model>"
    mesh_models: tuple[str, ...] = ()  # each also serves a whole embedded mesh alone, as "mesh:<model>"
    task_timeout: float = 120.0
    out: Path = Path("eval-out")

    def __post_init__(self) -> None:
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not self.systems:
            raise ConfigError(f"unknown system(s) {', '.join(unknown) or '(none)'}; known: {', '.join(SYSTEMS)}")
        if not self.task_timeout > 0:
            raise ConfigError(f"--task-timeout must be > 0 s (got {self.task_timeout})")


@dataclass(frozen=True)
class Result:
    task: Task
    system: str
    answer: Answer
    score: TaskScore


def skipped_systems(options: EvalOptions, settings: Settings) -> dict[str, str]:
    """System -> why it does not run."""
    skipped = {}
    for name in SYSTEMS:
        if name not in options.systems:
            skipped[name] = "not requested"
        elif name in NEEDS_KEY and not settings.anthropic_api_key:
            skipped[name] = "ANTHROPIC_API_KEY is not set"
        elif name == "mesh+claude" and not options.embedded:
            skipped[name] = "needs --embedded (a running mesh plans with its own gateway's planner)"
    return skipped


@asynccontextmanager
async def open_systems(options: EvalOptions, settings: Settings) -> AsyncIterator[list[System]]:
    """The systems that run, in the order asked for, started and ready."""
    from hivemesh.eval import meshsys
    from hivemesh.eval.systems import CloudModel, SingleModel, cloud_client

    skipped = skipped_systems(options, settings)
    async with AsyncExitStack() as stack:
        systems: list[System] = []
        for name in (s for s in options.systems if s not in skipped):
            if name == "mesh" and options.embedded:
                systems.append(await stack.enter_async_context(meshsys.embedded("mesh", settings, claude=False)))
                for spec in options.mesh_models:
                    systems.append(await stack.enter_async_context(meshsys.one_model(spec, settings)))
            elif name == "mesh":
                systems.append(await stack.enter_async_context(meshsys.over_bootstrap(settings)))
            elif name == "mesh+claude":
                systems.append(await stack.enter_async_context(
                    meshsys.embedded("mesh+claude", settings, claude=True)))
            elif name == "single":
                for i, spec in enumerate((options.single_model, *options.more_single_models)):
                    model = await trio.to_thread.run_sync(_load_single, spec, settings.threads or 2)
                    stack.callback(model.close)
                    systems.append(SingleModel(model, name="single" if i == 0 else f"single:{model.name}"))
            elif name == "cloud":
                systems.append(CloudModel(cloud_client(settings.anthropic_api_key or ""), settings.claude_model))
        yield systems


def _load_single(spec: str, threads: int) -> object:
    from hivemesh.models.sources import load_model

    return load_model(spec if "?" in spec else f"{spec}?ctx=2048&threads={threads}")


async def answer_in_time(system: System, task: Task, timeout: float) -> Answer:
    """``system``'s answer to ``task``, or an error answer after ``timeout`` s."""
    started = time.monotonic()
    with trio.move_on_after(timeout):
        try:
            return await system.answer(task)
        except Exception as exc:  # a bug in one system must not end a long run; it is logged in full
            log.exception("eval: %s failed on %s", system.name, task.id)
            return Answer("", time.monotonic() - started, error=f"internal error: {type(exc).__name__}: {exc}")
    return Answer("", time.monotonic() - started, error=f"timed out after {timeout:g}s")


async def run_suite(tasks: Sequence[Task], systems: Sequence[System], *, task_timeout: float,
                    on_result: Callable[[Result], None] | None = None,
                    scorer: Callable[[Task, str], TaskScore] = score_task) -> list[Result]:
    """Every task answered by every system in turn, scored."""
    results = []
    for task in tasks:
        for system in systems:
            answer = await answer_in_time(system, task, task_timeout)
            score = await trio.to_thread.run_sync(scorer, task, answer.text)
            result = Result(task, system.name, answer, score)
            log.info("eval: %s %s score=%.2f parts=%d/%d %.1fs%s", task.id, system.name, score.score,
                     score.satisfied, len(score.parts), answer.seconds, f" error={answer.error}" if answer.error else "")
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
