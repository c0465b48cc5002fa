"""Job and subtask state changes. Pure: records in, records out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hivemesh.gateway.jobwire import PlanInfo, PlannedSubtask, SubtaskRecord, SubtaskReport
from hivemesh.worker.protocol import TaskReply
from hivemesh.planner.plan import Plan

MAX_ATTEMPTS = 16  # placements of one subtask, whatever went wrong
MAX_STRIKES = 4  # failures that count against the subtask itself (see ``pipeline``)
MAX_BUSY = 256  # placements of one subtask that busy peers refused (not counted in MAX_ATTEMPTS): the mesh stayed full


def initial(plan: Plan) -> dict[str, SubtaskRecord]:
    return {s.id: SubtaskRecord(id=s.id, status="pending") for s in plan.subtasks}


def ready(plan: Plan, subtasks: Mapping[str, SubtaskRecord]) -> list[str]:
    """Pending subtasks whose dependencies are all done, in plan order."""
    return [
        s.id for s in plan.subtasks
        if subtasks[s.id].status == "pending" and all(subtasks[d].status == "done" for d in s.depends_on)
    ]


def complete(plan: Plan, subtasks: Mapping[str, SubtaskRecord]) -> bool:
    return subtasks[plan.answer].status == "done"


def started(record: SubtaskRecord, peer_id: str) -> SubtaskRecord:
    if record.status != "pending":
        raise ValueError(f"subtask {record.id} is {record.status}, not pending")
    return replace(record, status="running", peer_id=peer_id, attempts=record.attempts + 1)


def finished(record: SubtaskRecord, reply: TaskReply, cached: bool = False) -> SubtaskRecord:
    return replace(
        record, status="done", peer_id=reply.peer_id, model=reply.model, output=reply.text,
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        seconds=reply.run_s, cached=cached,
    )


def plan_info(plan: Plan, seconds: float = 0.0) -> PlanInfo:
    return PlanInfo(
        planner=plan.planner, answer=plan.answer,
        subtasks=tuple(PlannedSubtask(s.id, s.capability, s.depends_on, s.max_tokens) for s in plan.subtasks),
        seconds=round(seconds, 3),
    )


def reports(plan: Plan, subtasks: Mapping[str, SubtaskRecord]) -> tuple[SubtaskReport, ...]:
    return tuple(
        SubtaskReport(
            id=s.id, capability=s.capability, peer_id=r.peer_id, model=r.model,
            tokens=r.prompt_tokens + r.completion_tokens, completion_tokens=r.completion_tokens,
            seconds=round(r.seconds, 3), attempts=r.attempts, cached=r.cached, check=r.check,
        )
        for s in plan.subtasks
        for r in (subtasks[s.id],)
        if r.status == "done"
    )
