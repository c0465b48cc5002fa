"""``/hivemesh/job/1`` messages, and the job records kept in the store.

A client writes one ``JobSubmit`` and reads ``JobEvent`` frames until one of
kind ``done`` or ``failed``, which carries the ``JobResult``, or a single
``busy`` (index 0, not stored): the gateway did not take the job now; try
another gateway, or this one after ``retry_after_s``. Job ids come
from the client, so submitting the same id again attaches to the same job
(its events are replayed from ``from_event``) instead of starting another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from hivemesh.mesh import wire
from hivemesh.planner.plan import FORMATS, MAX_STOPS, Plan, Subtask

PROTOCOL = "/hivemesh/job/1"
MAX_JOB_TEXT = 16 * 1024
MAX_INPUT_BYTES = 1024 * 1024
MAX_INPUTS = 32
MAX_DEADLINE_S = 7 * 24 * 3600.0
TERMINAL = ("done", "failed")
_SUBTASK = frozenset({"subtask_id", "capability", "peer_id", "detail"})
#: every kind of job event and the fields it carries besides job_id, index and kind: another
#: kind, or a field its kind does not carry, is a decode error, not an event a client has to guess at
KIND_FIELDS: dict[str, frozenset[str]] = {
    "accepted": frozenset({"peer_id"}),
    "planned": frozenset({"plan", "detail"}),
    "resumed": frozenset({"peer_id", "detail"}),
    "subtask_started": _SUBTASK,
    "subtask_finished": _SUBTASK,
    "subtask_retry": _SUBTASK,
    "aggregated": frozenset({"detail"}),
    "token": frozenset({"subtask_id", "detail", "offset"}),  # a piece of the answer as it streams (not stored)
    "busy": frozenset({"peer_id", "detail", "retry_after_s"}),  # the job was not taken (not stored; the stream ends after it)
    "done": frozenset({"detail", "result"}),  # terminal kinds carry their result, always
    "failed": frozenset({"detail", "result"}),
}
EVENT_KINDS = frozenset(KIND_FIELDS)


@dataclass(frozen=True)
class JobSubmit(wire.Message):
    MAX_BYTES = MAX_INPUT_BYTES + MAX_JOB_TEXT + 4096

    job_id: str
    text: str
    inputs: tuple[str, ...] = ()
    aggregate: bool = False
    from_event: int = 0
    attach_only: bool = False  # reconnecting: never create the job
    tokens: bool = False  # also send ``token`` events: the answer's text as it is generated (a new
    # job's answer stage then streams its tokens to the gateway; without it, it does not)
    deadline_s: float = 0.0  # the client waits this long for the job's end from now (0: no limit): a
    # gateway answers busy when its jobs take longer now, and ends the job ``failed`` when it passes

    def __post_init__(self) -> None:
        if not (math.isfinite(self.deadline_s) and 0 <= self.deadline_s <= MAX_DEADLINE_S):
            raise ValueError(f"deadline_s must be 0 (none) to {MAX_DEADLINE_S:.0f} s")
        if not 1 <= len(self.job_id) <= 64 or not all(c.isalnum() or c in "-_." for c in self.job_id):
            raise ValueError("job_id must be 1-64 chars of [A-Za-z0-9-_.]")
        if not self.text.strip() and not self.attach_only:
            raise ValueError("job text is empty")
        if len(self.text) > MAX_JOB_TEXT:
            raise ValueError(f"job text is over {MAX_JOB_TEXT} chars")
        if len(self.inputs) > MAX_INPUTS or sum(len(i) for i in self.inputs) > MAX_INPUT_BYTES:
            raise ValueError(f"inputs are limited to {MAX_INPUTS} documents and {MAX_INPUT_BYTES} chars")


@dataclass(frozen=True)
class PlannedSubtask(wire.Message):
    id: str
    capability: str
    depends_on: tuple[str, ...]
    max_tokens: int


@dataclass(frozen=True)
class PlanInfo(wire.Message):
    planner: str
    answer: str
    subtasks: tuple[PlannedSubtask, ...]
    seconds: float = 0.0  # how long planning took (0 for a cached plan)


@dataclass(frozen=True)
class SubtaskReport(wire.Message):
    id: str
    capability: str
    peer_id: str
    model: str
    tokens: int  # prompt + completion
    completion_tokens: int
    seconds: float
    attempts: int
    cached: bool = False
    #: checking its output: "passed" (another worker on the same weights accepted it), "not checked: <why>"
    #: (its worker is trusted and this output was not sampled; no other worker serves the weights; ...),
    #: "" (the gateway checks nothing, or a cached output)
    check: str = ""


@dataclass(frozen=True)
class Quality(wire.Message):
    """What the last published eval measured on jobs like this one (0-1 scores;
    None: not measured). ``source`` is that run's command."""

    source: str
    capability: str
    mesh: float | None
    single: float | None
    cloud: float | None


@dataclass(frozen=True)
class Accounting(wire.Message):
    cloud_model: str
    cloud_input_tokens: int
    cloud_output_tokens: int
    cloud_tokens: int
    mesh_tokens: int
    mesh_tokens_by_peer: dict[str, int]
    cloud_usd: float
    cloud_only_usd: float
    saved_usd: float
    quality: Quality | None = None


@dataclass(frozen=True)
class JobResult(wire.Message):
    MAX_BYTES = 512 * 1024

    job_id: str
    status: str  # "done" | "failed"
    answer: str
    error: str
    plan: PlanInfo | None
    subtasks: tuple[SubtaskReport, ...]
    accounting: Accounting | None
    gateway: str
    seconds: float


@dataclass(frozen=True)
class JobEvent(wire.Message):
    MAX_BYTES = 600 * 1024

    job_id: str
    index: int
    kind: str  # accepted planned subtask_started subtask_finished subtask_retry token busy done failed
    subtask_id: str = ""
    capability: str = ""
    peer_id: str = ""
    detail: str = ""
    plan: PlanInfo | None = None
    result: JobResult | None = None
    #: a ``token`` event (not stored; ``index`` is the next stored event's):
    #: ``detail`` is the answer stage's text from character ``offset`` on
    offset: int = 0
    #: a ``busy`` event: seconds to wait before submitting to this gateway again
    retry_after_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown job event kind {self.kind!r}")
        if not 0.0 <= self.retry_after_s <= 3600.0:
            raise ValueError(f"retry_after_s must be 0-3600 (got {self.retry_after_s})")
        carried = {f.name for f in fields(self)[3:] if getattr(self, f.name) != f.default}
        if carried - KIND_FIELDS[self.kind]:
            raise ValueError(f"a {self.kind} event carries no {sorted(carried - KIND_FIELDS[self.kind])}")
        if self.terminal and self.result is None:
            raise ValueError(f"a {self.kind} event carries the job's result")

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL


# --- records in the store -----------------------------------------------------


@dataclass(frozen=True)
class PlanStep(wire.Message):
    """One subtask of a stored plan, in full (``PlannedSubtask`` is its summary)."""

    id: str
    capability: str
    prompt: str
    depends_on: tuple[str, ...]
    max_tokens: int
    format: str = "chat"
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        if len(self.stop) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop strings")


@dataclass(frozen=True)
class StoredPlan(wire.Message):
    """A job's plan as the store keeps it (in its ``JobRecord`` and the plan
    cache): the same strict codec as every other message, no JSON inside."""

    MAX_BYTES = 256 * 1024

    subtasks: tuple[PlanStep, ...]
    answer: str
    planner: str

    @classmethod
    def of(cls, plan: Plan) -> StoredPlan:
        return cls(tuple(PlanStep(s.id, s.capability, s.prompt, s.depends_on, s.max_tokens, s.format, s.stop)
                         for s in plan.subtasks), plan.answer, plan.planner)

    def to_plan(self) -> Plan:
        return Plan(tuple(Subtask(s.id, s.capability, s.prompt, s.depends_on, s.max_tokens, s.format, s.stop)
                          for s in self.subtasks), self.answer, self.planner)


@dataclass(frozen=True)
class JobRecord(wire.Message):
    MAX_BYTES = MAX_INPUT_BYTES + MAX_JOB_TEXT + 256 * 1024

    job_id: str
    text: str
    inputs: tuple[str, ...]
    aggregate: bool
    created: float
    status: str  # "planning" | "running" | "done" | "failed"
    plan: StoredPlan | None = None
    planner_model: str = ""
    cloud_input_tokens: int = 0
    cloud_output_tokens: int = 0
    cloud_model: str = ""  # the model billed for the cloud tokens ("" when none was)
    plan_seconds: float = 0.0
    deadline: float = 0.0  # when the job fails if it has not ended (epoch seconds; 0: never)


@dataclass(frozen=True)
class SubtaskRecord(wire.Message):
    MAX_BYTES = 512 * 1024

    id: str
    status: str  # "pending" | "running" | "done"
    peer_id: str = ""
    model: str = ""
    attempts: int = 0
    output: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    output_hash: str = ""
    check: str = ""  # as ``SubtaskReport.check``
