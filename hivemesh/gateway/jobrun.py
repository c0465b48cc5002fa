"""Running one job on a gateway: plan, place the pipeline, answer.

State lives in the store (job record, one record per subtask, the event
list), so that when this gateway dies another one resumes the job from there:
done subtasks are not run again; their outputs are re-sent by the peers that
keep them, or recomputed if those peers are gone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from hivemesh.errors import DecodeError, HivemeshError, JobFailed, PlanError
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.gateway import jobstate
from hivemesh.gateway.accounting import account
from hivemesh.gateway.conductor import Conductor
from hivemesh.gateway.checking import CheckDesk
from hivemesh.gateway.health import PeerHealth
from hivemesh.gateway.looplag import LoopLag
from hivemesh.gateway.jobwire import JobEvent, JobRecord, JobResult, Quality, StoredPlan, SubtaskRecord
from hivemesh.gateway.trust import TrustSettings
from hivemesh.worker.protocol import TaskReply
from hivemesh.gateway.store import JobStore, output_cache_key, plan_cache_key
from hivemesh.planner.base import Planner, PlanRequest
from hivemesh.planner.chunking import approx_tokens, chunk_inputs
from hivemesh.planner.plan import Plan, PlanLimits, render

log = logging.getLogger(__name__)

PLAN_TTL_S = 7 * 24 * 3600.0
OUTPUT_TTL_S = 24 * 3600.0


@dataclass
class JobSettings:
    limits: PlanLimits = field(default_factory=PlanLimits)
    subtask_deadline_s: float = 300.0
    #: a stage that could run this long past its deadline without a report has
    #: stalled (its peer took it and went quiet, still in the mesh): moved
    stall_grace_s: float = 30.0
    #: characters of each input's start the planner sees (0: none; at most 200)
    preview_chars: int = 200
    #: jobs run at once before new ones are answered busy (0: from the view's capacity, see ``admission``)
    max_jobs: int = 0
    #: checking workers' outputs (``gateway.checking``): on by default (every output of a worker new to
    #: the gateways' shared record, 5% of a trusted one's); None: no checks
    trust: TrustSettings | None = field(default_factory=TrustSettings)


def job_settings(settings: Any) -> JobSettings:
    """A gateway's job settings from the peer's ``Settings``."""
    trust = TrustSettings(trusted_share=settings.check_share) if settings.check_share >= 0 else None
    return JobSettings(subtask_deadline_s=settings.subtask_deadline, preview_chars=settings.planner_preview,
                       max_jobs=settings.max_jobs, trust=trust)


def quality_of(plan: Plan | None) -> Quality | None:
    """The eval's published scores for jobs planned like ``plan``."""
    from hivemesh.eval.figures import for_plan

    if plan is None:
        return None
    found = for_plan(plan.capabilities(), joined=plan.subtask(plan.answer).capability == "join")
    return Quality(found.source, found.capability, found.mesh, found.single, found.cloud) if found else None


Emit = Callable[..., Awaitable[JobEvent]]
#: one store trip: (subtask id, record bytes) pairs and (kind, fields) events,
#: after an optional blocking ``first()`` (False: nothing written, None back)
Write = Callable[..., Awaitable["list[JobEvent] | None"]]


async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


def record_end(store: JobStore, job_id: str, record: bytes) -> None:
    """Blocking, one trip: a finished job's record saved, the job off the active list."""
    store.put_job(job_id, record)
    store.mark_job_done(job_id)


def find_aggregator(planner: Any) -> Any:
    """The planner (or its primary) when it offers ``aggregate``; else None."""
    for candidate in (planner, getattr(planner, "primary", None)):
        if candidate is not None and callable(getattr(candidate, "aggregate", None)):
            return candidate
    return None


class JobMoved(HivemeshError):
    """The job moved off this gateway (another one holds it now)."""


class JobRun:
    def __init__(self, node: MeshNode, store: JobStore, planner: Planner, record: JobRecord,
                 emit: Emit, settings: JobSettings, subtasks: dict[str, SubtaskRecord] | None = None,
                 stats: Counter[str] | None = None, health: PeerHealth | None = None,
                 lag: LoopLag | None = None, checks: CheckDesk | None = None,
                 conductors: dict[str, Conductor] | None = None) -> None:
        self.node, self.store, self.planner = node, store, planner
        self.record, self.emit, self.settings = record, emit, settings
        self.subtasks: dict[str, SubtaskRecord] = subtasks or {}
        self.started = time.monotonic()
        self.chunks = [c.text for c in chunk_inputs(record.inputs)]
        self.conductor: Conductor | None = None
        self.stats: Counter[str] = Counter() if stats is None else stats  # shared with the gateway
        self.health = health or PeerHealth()  # shared with the gateway
        self.lag = lag or LoopLag()  # the gateway's loop lag: stage timeouts allow for it
        self.checks = checks  # the gateway's check desk (shared); None: outputs are not checked
        #: job id -> its pipeline, for every job this gateway runs now (shared): placement counts all their stages
        self.conductors: dict[str, Conductor] = {} if conductors is None else conductors
        #: where the answer stage's streamed tokens go (subtask id, attempt, text); None: not streamed
        self.on_token: Callable[[str, int, str], None] | None = None
        #: a blocking call that renews the job's lease (False: another gateway holds it), made
        #: now for a store trip; None: no lease (tests)
        self.renewal: Callable[[], Callable[[], bool]] | None = None
        self.write: Write = self._write_plainly  # the gateway's: one store trip (thread) for them all

    # --- the whole job ------------------------------------------------------------

    async def run(self) -> JobResult:
        try:
            plan = await self.resume_plan() or await self.make_plan()
            if not await self._from_cache(plan):
                self.conductor = Conductor(self, plan)
                await self.conductor.execute()
                await self._cache_answer(plan)
            answer = await self.aggregate(plan) if self.record.aggregate else None
            result = self.result(plan, "done", "", answer)
            await self._end("done", result=result)
        except JobFailed as exc:
            log.info("✗ job failed job=%s: %s", self.record.job_id, exc.reason)
            result = self.result(self._plan_or_none(), "failed", exc.reason)
            await self._end("failed", detail=exc.reason, result=result)
        await self._save_status(result.status)
        return result

    def lease_lost(self, reason: str) -> bool:
        """Another gateway may hold the job now: the pipeline stops acting for
        it. False when no pipeline is running (the caller stops the job)."""
        if self.conductor is None or self.conductor.state.outcome != "running":
            return False
        self.conductor.lease_lost(reason)
        return True

    async def _end(self, kind: str, **fields: Any) -> None:
        """Tell the job's end, only while this gateway still holds the job: a
        gateway that lost the lease must not end a job another one runs (the
        renewal and the event make one store trip)."""
        first = self.renewal() if self.renewal is not None else None
        if await self.write(events=[(kind, fields)], first=first) is None:
            raise JobMoved(f"job {self.record.job_id} is held by another gateway now; not ending it here")

    async def _write_plainly(self, subtasks: Any = (), events: Any = (),
                             first: Callable[[], bool] | None = None) -> list[JobEvent] | None:
        """``write`` without a gateway's batching: a trip per write."""
        if first is not None and not await blocking(first):
            return None
        for sid, data in subtasks:
            await blocking(self.store.put_subtask, self.record.job_id, sid, data)
        return [await self.emit(kind, **f) for kind, f in events]

    # --- planning -----------------------------------------------------------------

    async def resume_plan(self) -> Plan | None:
        """The plan of a job another gateway started, with its subtask records."""
        if self.record.plan is None:
            return None
        plan = self.record.plan.to_plan()
        fresh = jobstate.initial(plan)
        self.subtasks = {sid: self.subtasks.get(sid, rec) for sid, rec in fresh.items()}
        done = sum(r.status == "done" for r in self.subtasks.values())
        await self.emit("resumed", peer_id=self.node.peer_id, detail=f"{done}/{len(plan.subtasks)} subtasks done")
        return plan

    async def make_plan(self) -> Plan:
        offered = self.node.view.recent_capabilities(self.node.config.clock())
        request = PlanRequest.for_job(self.record.text, self.record.inputs, offered, self.settings.limits,
                                      preview_chars=self.settings.preview_chars)
        key = plan_cache_key(self.record.text, list(self.record.inputs), {"v": 2})
        plan = await self._cached_plan(key, request)
        started = time.monotonic()
        if plan is None:
            try:
                result = await self.planner.plan(request)
                plan = request.check(result.plan)
            except PlanError as exc:
                self._bill_failed_plan(exc)
                raise JobFailed(f"planning failed: {exc}") from None
            except HivemeshError as exc:
                raise JobFailed(f"planner unavailable: {exc}") from None
            self.record = replace(self.record, planner_model=result.model, cloud_model=result.cloud_model,
                                  cloud_input_tokens=result.cloud_input_tokens,
                                  cloud_output_tokens=result.cloud_output_tokens,
                                  plan_seconds=round(time.monotonic() - started, 3))
            to_cache: bytes | None = wire.encode(StoredPlan.of(plan))
        else:
            to_cache = None
        self.record = replace(self.record, status="running", plan=StoredPlan.of(plan))
        job_id, record = self.record.job_id, wire.encode(self.record)

        def put() -> bool:  # the plan cache, the job's record and its "planned" event: one trip
            if to_cache is not None:
                self.store.put_plan(key, to_cache, PLAN_TTL_S)
            self.store.put_job(job_id, record)
            return True

        self.subtasks = jobstate.initial(plan)
        await self.write(events=[("planned", {"plan": jobstate.plan_info(plan, self.record.plan_seconds),
                                              "detail": f"{len(plan.subtasks)} subtasks by {plan.planner}"})],
                         first=put)
        log.info("plan job=%s planner=%s subtasks=%d", self.record.job_id, plan.planner, len(plan.subtasks))
        return plan

    def _bill_failed_plan(self, exc: PlanError) -> None:
        """Cloud tokens spent on a plan that failed are still the job's cost."""
        spent_in = getattr(exc, "cloud_input_tokens", 0)
        spent_out = getattr(exc, "cloud_output_tokens", 0)
        if spent_in or spent_out:
            self.record = replace(self.record, cloud_model=getattr(exc, "model", ""), cloud_input_tokens=spent_in,
                                  cloud_output_tokens=spent_out, planner_model=getattr(exc, "model", ""))

    async def _cached_plan(self, key: str, request: PlanRequest) -> Plan | None:
        raw = await blocking(self.store.get_plan, key)
        if raw is None:
            return None
        try:
            plan = request.check(wire.decode(StoredPlan, raw).to_plan())
        except (PlanError, DecodeError) as exc:
            log.info("cached plan no longer fits the mesh (%s); planning again", exc)
            return None
        log.info("plan cache hit job=%s", self.record.job_id)
        self.record = replace(self.record, planner_model=f"cache:{plan.planner}")
        return plan

    def _plan_or_none(self) -> Plan | None:
        return self.record.plan.to_plan() if self.record.plan is not None else None

    # --- the output cache (single-subtask plans: the gateway sees that prompt) -----

    def _output_key(self, plan: Plan) -> str | None:
        if len(plan.subtasks) != 1:
            return None
        s = plan.subtasks[0]
        prompt = render(s, self.record.text, self.record.inputs, self.chunks, {})
        models = sorted({m.name for e in self.node.view.with_capability(s.capability)
                         for m in e.advert.models if s.capability in m.capabilities})
        return output_cache_key(",".join(models), prompt, {"max_tokens": s.max_tokens, "temperature": 0})

    async def _from_cache(self, plan: Plan) -> bool:
        key = self._output_key(plan)
        raw = await blocking(self.store.get_output, key) if key else None
        if raw is None:
            return False
        reply = wire.decode(TaskReply, raw)
        sid = plan.answer
        self.subtasks[sid] = jobstate.finished(jobstate.started(self.subtasks[sid], reply.peer_id), reply, cached=True)
        await self.write([(sid, wire.encode(self.subtasks[sid]))],
                         [("subtask_finished", {"subtask_id": sid, "capability": plan.subtask(sid).capability,
                                                "peer_id": reply.peer_id, "detail": "cached"})])
        return True

    async def _cache_answer(self, plan: Plan) -> None:
        key = self._output_key(plan)
        if key is None:
            return
        rec = self.subtasks[plan.answer]
        reply = TaskReply(task_id=rec.id, ok=True, text=rec.output, peer_id=rec.peer_id, model=rec.model,
                          prompt_tokens=rec.prompt_tokens, completion_tokens=rec.completion_tokens, run_s=rec.seconds)
        await blocking(self.store.put_output, key, wire.encode(reply), OUTPUT_TTL_S)

    # --- aggregation ----------------------------------------------------------------

    async def aggregate(self, plan: Plan) -> str | None:
        """The planner LLM's final answer from the subtask outputs, when it can.

        Outputs stay on the workers, so only the answer subtask's output is at
        the gateway; the aggregator sees that and the job."""
        aggregator = find_aggregator(self.planner)
        if aggregator is None:
            log.info("job %s asked for aggregation; planner %s cannot aggregate, answer is subtask %s",
                     self.record.job_id, self.planner.name, plan.answer)
            return None
        outputs = {sid: r.output for sid, r in self.subtasks.items() if r.status == "done" and r.output}
        try:
            agg = await aggregator.aggregate(self.record.text, outputs)
        except HivemeshError as exc:
            log.warning("aggregation failed for job %s (%s); answer is subtask %s", self.record.job_id, exc,
                        plan.answer)
            return None
        self.record = replace(self.record, cloud_input_tokens=self.record.cloud_input_tokens + agg.cloud_input_tokens,
                              cloud_output_tokens=self.record.cloud_output_tokens + agg.cloud_output_tokens,
                              cloud_model=self.record.cloud_model or agg.model)
        await self.emit("aggregated", detail=agg.model)
        return agg.text

    # --- records ------------------------------------------------------------------

    async def _save_status(self, status: str) -> None:
        self.record = replace(self.record, status=status)
        job_id, record = self.record.job_id, wire.encode(self.record)

        try:
            await blocking(record_end, self.store, job_id, record)
        except HivemeshError as exc:
            log.warning("could not record the end of job %s: %s", self.record.job_id, exc)

    def result(self, plan: Plan | None, status: str, error: str, answer: str | None = None) -> JobResult:
        answer_record = self.subtasks.get(plan.answer) if plan else None
        if answer is None:
            answer = answer_record.output if answer_record and answer_record.status == "done" else ""
        reports = jobstate.reports(plan, self.subtasks) if plan else ()
        accounting = account(
            self.record.cloud_model or self.record.planner_model, self.record.cloud_input_tokens,
            self.record.cloud_output_tokens, reports, self.record.text, sum(len(i) for i in self.record.inputs),
            approx_tokens(len(answer)), quality_of(plan),
        )
        return JobResult(
            job_id=self.record.job_id, status=status, answer=answer, error=error,
            plan=jobstate.plan_info(plan, self.record.plan_seconds) if plan else None, subtasks=reports,
            accounting=accounting,
            gateway=self.node.peer_id, seconds=round(time.monotonic() - self.started, 3),
        )
