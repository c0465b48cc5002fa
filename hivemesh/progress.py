"""How the CLI shows a job's progress and result (stderr for progress)."""

from __future__ import annotations

import sys
import time

from hivemesh.gateway.jobwire import JobEvent, JobResult

_started = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {text}", file=sys.stderr, flush=True)


class AnswerPrinter:
    """Prints the answer on stdout as it grows, progress on stderr."""

    def __init__(self) -> None:
        from hivemesh.streaming import AnswerStream

        self.answer = AnswerStream()

    def __call__(self, event: JobEvent) -> None:
        piece = self.answer.feed(event)
        if piece:
            sys.stdout.write(piece)
            sys.stdout.flush()
        if event.kind != "token":
            if event.terminal and self.answer.shown:
                print(flush=True)
            print_event(event)

    def format_result(self, result: JobResult) -> str:
        """The result, without the answer when it was printed already."""
        shown = self.answer.shown and not self.answer.diverged and result.status == "done"
        return format_result(result, with_answer=not shown)


def print_event(event: JobEvent) -> None:
    peer = f" on …{event.peer_id[-6:]}" if event.peer_id else ""
    if event.kind == "accepted":
        say(f"job {event.job_id} accepted by gateway{peer}")
    elif event.kind == "planned":
        took = f" in {event.plan.seconds:.2f}s" if event.plan else ""
        say(f"planned{took}: {event.detail}")
        for s in event.plan.subtasks if event.plan else ():
            deps = f" <- {', '.join(s.depends_on)}" if s.depends_on else ""
            say(f"   {s.id} [{s.capability}]{deps}")
    elif event.kind == "subtask_started":
        say(f"-> {event.subtask_id} [{event.capability}] started{peer}")
    elif event.kind == "subtask_finished":
        say(f"<- {event.subtask_id} [{event.capability}] done{peer} ({event.detail})")
    elif event.kind == "subtask_retry":
        say(f"!! {event.subtask_id} failed{peer}, retrying elsewhere: {event.detail}")
    elif event.kind == "busy" and event.peer_id:
        say(f"gateway{peer} busy ({event.detail}); trying another")
    elif event.kind == "busy":
        say(f"waiting: {event.detail}")
    elif event.kind in ("done", "failed"):
        say(f"job {event.kind}")


def format_result(result: JobResult, with_answer: bool = True) -> str:
    if result.status != "done":
        return f"job {result.job_id} failed: {result.error}"
    lines = [result.answer.strip(), ""] if with_answer else []
    for s in result.subtasks:
        lines.append(f"  {s.id:<10} {s.capability:<10} …{s.peer_id[-6:]} {s.model:<22} "
                     f"{s.tokens:>5} tokens {s.seconds:6.2f}s{' (cached)' if s.cached else ''}"
                     f"{'; check passed' if s.check == 'passed' else '; ' + s.check if s.check else ''}")
    acc = result.accounting
    if acc is not None:
        lines.append(
            f"  planner {result.plan.planner if result.plan else '?'}; cloud tokens {acc.cloud_tokens} "
            f"(${acc.cloud_usd:.4f}); mesh tokens {acc.mesh_tokens}; cloud-only estimate "
            f"${acc.cloud_only_usd:.4f}; saved ${acc.saved_usd:.4f}; {result.seconds:.1f}s"
        )
        if acc.quality is not None:
            lines.append(f"  quality on such jobs ({acc.quality.capability}, `{acc.quality.source}`): "
                         f"mesh {_score(acc.quality.mesh)}, one bundled model alone {_score(acc.quality.single)}, "
                         f"Claude alone {_score(acc.quality.cloud)}")
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.2f}"
