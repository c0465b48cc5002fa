"""Running one job on a gateway: plan, schedule, dispatch, record, answer.

State lives in the store (job record, one record per subtask, the event
list), so another gateway can pick a job up. Subtasks whose dependencies are
done are dispatched as soon as a peer has a free slot; a failed attempt goes
back to pending with that peer excluded for it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from hivemesh.errors import HivemeshError, JobFailed, PlanError
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.peer import jobstate
from hivemesh.peer.accounting import account
from hivemesh.peer.jobwire import JobEvent, JobRecord, JobResult, SubtaskRecord
from hivemesh.peer.protocol import TaskReply, TaskRequest
from hivemesh.peer.scheduler import Need, assign
from hivemesh.peer.store import JobStore, output_cache_key, plan_cache_key
from hivemesh.peer.tasks import call_task
from hivemesh.planner.base import Planner, PlanRequest
from hivemesh.planner.chunking import chunk_inputs
from hivemesh.planner.plan import Plan, PlanLimits, plan_from_dict, plan_to_dict, render

log = logging.getLogger(__name__)

PLAN_TTL_S = 7 * 24 * 3600.0
OUTPUT_TTL_S = 24 * 3600.0
WAIT_FOR_CAPACITY_S = 60.0


@dataclass
class JobSettings:
    limits: PlanLimits = field(default_factory=PlanLimits)
    subtask_deadline_s: float = 300.0
    wait_for_capacity_s: float = WAIT_FOR_CAPACITY_S


Emit = Callable[..., Awaitable[JobEvent]]


async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


def find_aggregator(planner: Any) -> Any:
    """The planner (or its primary) when it offers ``aggregate``; else None."""
    for candidate in (planner, getattr(planner, "primary", None)):
        if candidate is not None and callable(getattr(candidate, "aggregate", None)):
            return candidate
    return None


class JobRun:
    def __init__(self, node: MeshNode, store: JobStore, planner: Planner, record: JobRecord,
                 emit: Emit, settings: JobSettings) -> None:
        self.node, self.store, self.planner = node, store, planner
        self.record, self.emit, self.settings = record, emit, settings
        self.subtasks: dict[str, SubtaskRecord] = {}
        self.started = time.monotonic()
        self.chunks = [c.text for c in chunk_inputs(record.inputs)]

    # --- the whole job ------------------------------------------------------------

    async def run(self) -> JobResult:
        try:
            plan = await self.make_plan()
            await self.execute(plan)
            answer = await self.aggregate(plan) if self.record.aggregate else None
            result = self.result(plan, "done", "", answer)
            await self.emit("done", result=result)
        except JobFailed as exc:
            log.info("✗ job failed job=%s: %s", self.record.job_id, exc.reason)
            plan = self._plan_or_none()
            result = self.result(plan, "failed", exc.reason)
            await self.emit("failed", detail=exc.reason, result=result)
        await self._save_status(result.status)
        return result

    # --- planning -----------------------------------------------------------------

    async def make_plan(self) -> Plan:
        request = PlanRequest.for_job(self.record.text, self.record.inputs,
                                      self.node.view.capabilities(), self.settings.limits)
        key = plan_cache_key(self.record.text, list(self.record.inputs), {"v": 1})
        plan = await self._cached_plan(key, request)
        if plan is None:
            try:
                result = await self.planner.plan(request)
                plan = request.check(result.plan)
            except PlanError as exc:
                raise JobFailed(f"planning failed: {exc}") from None
            except HivemeshError as exc:
                raise JobFailed(f"planner unavailable: {exc}") from None
            self.record = replace(self.record, planner_model=result.model,
                                  cloud_input_tokens=result.cloud_input_tokens,
                                  cloud_output_tokens=result.cloud_output_tokens)
            await blocking(self.store.put_plan, key, json.dumps(plan_to_dict(plan)).encode(), PLAN_TTL_S)
        self.record = replace(self.record, status="running", plan_json=json.dumps(plan_to_dict(plan)))
        await blocking(self.store.put_job, self.record.job_id, wire.encode(self.record))
        self.subtasks = jobstate.initial(plan)
        await self.emit("planned", plan=jobstate.plan_info(plan),
                        detail=f"{len(plan.subtasks)} subtasks by {plan.planner}")
        log.info("plan job=%s planner=%s subtasks=%d", self.record.job_id, plan.planner, len(plan.subtasks))
        return plan

    async def _cached_plan(self, key: str, request: PlanRequest) -> Plan | None:
        raw = await blocking(self.store.get_plan, key)
        if raw is None:
            return None
        try:
            plan = request.check(plan_from_dict(json.loads(raw)))
        except (PlanError, ValueError) as exc:
            log.info("cached plan no longer fits the mesh (%s); planning again", exc)
            return None
        log.info("plan cache hit job=%s", self.record.job_id)
        self.record = replace(self.record, planner_model=f"cache:{plan.planner}")
        return plan

    def _plan_or_none(self) -> Plan | None:
        return plan_from_dict(json.loads(self.record.plan_json)) if self.record.plan_json else None

    # --- dispatching --------------------------------------------------------------

    async def execute(self, plan: Plan) -> None:
        inflight: Counter[str] = Counter()
        running: set[str] = set()
        exclude: dict[str, set[str]] = {}
        send, receive = trio.open_memory_channel[tuple[str, str, Any]](1000)
        idle_since = time.monotonic()
        async with trio.open_nursery() as nursery:
            while not jobstate.complete(plan, self.subtasks):
                todo = [i for i in jobstate.ready(plan, self.subtasks) if i not in running]
                needs = [Need(i, plan.subtask(i).capability) for i in todo]
                schedule = assign(needs, self.node.view, inflight, exclude)
                if schedule.missing:
                    sid, cap = next(iter(schedule.missing.items()))
                    raise JobFailed(f"no peer in the mesh offers capability {cap!r} (subtask {sid})")
                for sid, peer in schedule.assigned.items():
                    running.add(sid)
                    inflight[peer] += 1
                    await self._start(plan, sid, peer)
                    nursery.start_soon(self._dispatch, plan, sid, peer, send)
                for sid in schedule.waiting:  # every capable peer failed it: let them try again
                    capable = {e.peer_id for e in self.node.view.with_capability(plan.subtask(sid).capability)}
                    if capable and capable <= exclude.get(sid, set()):
                        exclude[sid] = set()
                if running:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.settings.wait_for_capacity_s:
                    raise JobFailed(f"no free worker for {len(todo)} subtask(s) "
                                    f"in {self.settings.wait_for_capacity_s:.0f}s")
                with trio.move_on_after(0.25 if schedule.waiting or not running else 30):
                    sid, peer, outcome = await receive.receive()
                    running.discard(sid)
                    inflight[peer] -= 1
                    await self._settle(plan, sid, peer, outcome, exclude)
            nursery.cancel_scope.cancel()

    async def _start(self, plan: Plan, sid: str, peer: str) -> None:
        self.subtasks[sid] = jobstate.started(self.subtasks[sid], peer)
        await self._save_subtask(sid)
        await self.emit("subtask_started", subtask_id=sid, capability=plan.subtask(sid).capability, peer_id=peer)

    async def _dispatch(self, plan: Plan, sid: str, peer: str, send: trio.MemorySendChannel) -> None:
        subtask = plan.subtask(sid)
        outputs = {d: self.subtasks[d].output for d in subtask.depends_on}
        prompt = render(subtask, self.record.text, self.record.inputs, self.chunks, outputs)
        request = TaskRequest(task_id=f"{self.record.job_id}.{sid}.{self.subtasks[sid].attempts}",
                              job_id=self.record.job_id, capability=subtask.capability, prompt=prompt,
                              max_tokens=subtask.max_tokens, deadline_s=self.settings.subtask_deadline_s)
        outcome: Any
        try:
            outcome = await self._cached_or_call(peer, subtask.capability, request)
        except HivemeshError as exc:
            outcome = exc
        await send.send((sid, peer, outcome))

    async def _cached_or_call(self, peer: str, capability: str, request: TaskRequest) -> tuple[TaskReply, bool]:
        entry = self.node.view.peers.get(peer)
        model = next((m.name for m in entry.advert.models if capability in m.capabilities), "") if entry else ""
        key = output_cache_key(model, request.prompt, {"max_tokens": request.max_tokens, "temperature": 0})
        if model:
            raw = await blocking(self.store.get_output, key)
            if raw is not None:
                return wire.decode(TaskReply, raw), True
        reply = await call_task(self.node, peer, request)
        if reply.finish_reason != "cancelled":
            await blocking(self.store.put_output, key, wire.encode(reply), OUTPUT_TTL_S)
        return reply, False

    async def _settle(self, plan: Plan, sid: str, peer: str, outcome: Any, exclude: dict[str, set[str]]) -> None:
        if isinstance(outcome, tuple):
            reply, cached = outcome
            self.subtasks[sid] = jobstate.finished(self.subtasks[sid], reply, cached)
            await self._save_subtask(sid)
            await self.emit("subtask_finished", subtask_id=sid, capability=plan.subtask(sid).capability,
                            peer_id=reply.peer_id, detail="cached" if cached else reply.model)
            return
        exclude.setdefault(sid, set()).add(peer)
        try:
            self.subtasks[sid] = jobstate.retried(self.subtasks[sid])
        except ValueError:
            raise JobFailed(f"subtask {sid} failed {self.subtasks[sid].attempts} times; last: {outcome}") from None
        await self._save_subtask(sid)
        await self.emit("subtask_retry", subtask_id=sid, peer_id=peer, detail=str(outcome)[:300])

    # --- records ------------------------------------------------------------------

    async def _save_subtask(self, sid: str) -> None:
        await blocking(self.store.put_subtask, self.record.job_id, sid, wire.encode(self.subtasks[sid]))

    async def _save_status(self, status: str) -> None:
        self.record = replace(self.record, status=status)
        try:
            await blocking(self.store.put_job, self.record.job_id, wire.encode(self.record))
            await blocking(self.store.mark_job_done, self.record.job_id)
        except HivemeshError as exc:
            log.warning("could not record the end of job %s: %s", self.record.job_id, exc)

    async def aggregate(self, plan: Plan) -> str | None:
        """The planner LLM's final answer from every subtask output, when it can."""
        aggregator = find_aggregator(self.planner)
        if aggregator is None:
            log.info("job %s asked for aggregation; planner %s cannot aggregate, answer is subtask %s",
                     self.record.job_id, self.planner.name, plan.answer)
            return None
        outputs = {sid: r.output for sid, r in self.subtasks.items() if r.status == "done"}
        try:
            agg = await aggregator.aggregate(self.record.text, outputs)
        except HivemeshError as exc:
            log.warning("aggregation failed for job %s (%s); answer is subtask %s", self.record.job_id, exc,
                        plan.answer)
            return None
        self.record = replace(self.record, cloud_input_tokens=self.record.cloud_input_tokens + agg.cloud_input_tokens,
                              cloud_output_tokens=self.record.cloud_output_tokens + agg.cloud_output_tokens)
        await self.emit("aggregated", detail=agg.model)
        return agg.text

    def result(self, plan: Plan | None, status: str, error: str, answer: str | None = None) -> JobResult:
        answer_record = self.subtasks.get(plan.answer) if plan else None
        if answer is None:
            answer = answer_record.output if answer_record and answer_record.status == "done" else ""
        reports = jobstate.reports(plan, self.subtasks) if plan else ()
        accounting = account(
            self.record.planner_model, self.record.cloud_input_tokens, self.record.cloud_output_tokens,
            reports, self.record.text, sum(len(i) for i in self.record.inputs),
            answer_record.completion_tokens if answer_record else 0,
        )
        return JobResult(
            job_id=self.record.job_id, status=status, answer=answer, error=error,
            plan=jobstate.plan_info(plan) if plan else None, subtasks=reports, accounting=accounting,
            gateway=self.node.peer_id, seconds=round(time.monotonic() - self.started, 3),
        )



