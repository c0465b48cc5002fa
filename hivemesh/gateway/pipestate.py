"""The pipeline state machine's vocabulary: its state, the events it is fed
and the actions it asks for. Frozen dataclasses, no I/O (see ``pipeline``).

Every event about a stage names the subtask and the attempt it is about, so a
report from an attempt that has since been replaced is recognised as stale.
``now`` on every event is the executor's clock (seconds, monotonic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hivemesh.gateway.jobwire import SubtaskRecord
from hivemesh.planner.plan import Plan
from hivemesh.worker.protocol import TaskReply

from hivemesh.gateway.jobstate import MAX_ATTEMPTS, MAX_BUSY, MAX_STRIKES  # noqa: F401  (their one home)

def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Timing:
    subtask_deadline_s: float = 300.0
    stall_grace_s: float = 30.0  # a runnable stage this long past its deadline without a report: stalled
    capability_wait_s: float = 30.0  # how long a subtask waits for a usable peer before the job fails
    retry_backoff_s: float = 2.0  # a waiting subtask tries placement again this often
    report_grace_s: float = 2.0  # after the answer, how long to wait for upstream reports (token counts)
    check_wait_s: float = 150.0  # a held output whose check has no verdict by then is recomputed elsewhere


@dataclass(frozen=True)
class Graph:
    """The plan's shape: what the state machine needs of it."""

    order: tuple[str, ...]
    deps: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]
    caps: Mapping[str, str]
    answer: str

    @classmethod
    def of(cls, plan: Plan) -> Graph:
        children: dict[str, list[str]] = {s.id: [] for s in plan.subtasks}
        for s in plan.subtasks:
            for dep in s.depends_on:
                children[dep].append(s.id)
        return cls(
            order=tuple(s.id for s in plan.subtasks),
            deps=MappingProxyType({s.id: tuple(s.depends_on) for s in plan.subtasks}),
            children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
            caps=MappingProxyType({s.id: s.capability for s in plan.subtasks}),
            answer=plan.answer,
        )


@dataclass(frozen=True)
class Sub:
    """One subtask: its stored record plus what repair needs to remember.

    ``record.status``: "pending" (being placed, or parked: waiting for a
    usable peer), "running" (a stage on ``record.peer_id``, attempt
    ``record.attempts``) or "done"."""

    record: SubtaskRecord
    strikes: int = 0
    exclude: frozenset[str] = frozenset()
    placing: bool = False  # a Place action is out for it
    parked: str = ""  # the capability it waits for
    park_deadline: float | None = None  # the job fails if still parked then
    retry_at: float | None = None  # when a parked subtask tries placement again
    clear_exclude: bool = False  # at retry_at, give the peers that failed it another try
    runnable_since: float | None = None  # running with every input done, since
    used: Mapping[str, str] = field(default_factory=_empty)  # done: the dependency output hashes it was built on
    held: StageDone | None = None  # its report, waiting for the reports of the inputs it was built on
    busy: int = 0  # placements a busy peer refused: they do not count toward ``MAX_ATTEMPTS``
    checked: bool = False  # this attempt's output is checked before any use (``pipecheck``)
    checking: StageDone | None = None  # its report, held while the check runs
    check_deadline: float | None = None  # no verdict by then: the stage runs again elsewhere

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def attempt(self) -> int:
        return self.record.attempts

    @property
    def peer(self) -> str:
        return self.record.peer_id


@dataclass(frozen=True)
class State:
    graph: Graph
    timing: Timing
    subs: Mapping[str, Sub]
    outcome: str = "running"  # "running" | "done" | "failed" | "stopped"
    reason: str = ""
    finish_at: float | None = None  # the answer is in; finish then even without every upstream report

    def sub(self, sid: str) -> Sub:
        return self.subs[sid]

    def inputs_done(self, sid: str) -> bool:
        return all(self.subs[d].status == "done" for d in self.graph.deps[sid])


def initial(plan: Plan, records: Mapping[str, SubtaskRecord], timing: Timing = Timing()) -> State:
    """A job's pipeline from its plan and the subtask records in the store
    (all pending for a new job; some done or running for a resumed one)."""
    subs = {s.id: Sub(records.get(s.id) or SubtaskRecord(id=s.id, status="pending")) for s in plan.subtasks}
    return State(Graph.of(plan), timing, MappingProxyType(subs))


# --- events ----------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    now: float


@dataclass(frozen=True)
class Placed:
    """The scheduler's answer to a ``Place`` action."""

    now: float
    assigned: Mapping[str, str] = field(default_factory=_empty)  # subtask -> peer
    waiting: tuple[str, ...] = ()  # only peers that failed it offer its capability
    missing: Mapping[str, str] = field(default_factory=_empty)  # subtask -> capability no usable peer offers
    unknown: frozenset[str] = frozenset()  # of those capabilities, the ones not offered lately at all
    initial: bool = False
    checked: frozenset[str] = frozenset()  # of the assigned subtasks, those whose output is checked


@dataclass(frozen=True)
class StageEvent:
    now: float
    sid: str
    attempt: int
    peer: str
    suspect: bool = False  # the peer broke other stages lately: a failure here says little about the subtask


@dataclass(frozen=True)
class StageDone(StageEvent):
    reply: TaskReply = field(default=None)  # type: ignore[assignment]
    output_hash: str = ""
    verified: bool = True  # the claim is the peer's, for this subtask and attempt
    #: (child, peer, attempt) it handed its output to (written; a ``HandoffFailed`` may follow)
    delivered: frozenset[tuple[str, str, int]] = frozenset()
    used: Mapping[str, str] = field(default_factory=_empty)  # dependency -> output hash it was built on
    detail: str = ""  # for the client's event
    #: what became of checking this output, for the result: "passed", "not checked: <why>", "" (checks off)
    check: str = ""


@dataclass(frozen=True)
class HandoffFailed(StageEvent):
    """After a stage's report (a worker reports once its output is written
    downstream, before the acks): the copies it counted as handed to
    ``routes`` (child, peer, attempt) that were not taken, or whose fate is
    unknown (the stage's stream broke before its end)."""

    routes: frozenset[tuple[str, str, int]] = frozenset()


@dataclass(frozen=True)
class StageFailed(StageEvent):
    """The stage reported a failure (deadline, model error)."""

    reason: str = ""


@dataclass(frozen=True)
class StageRefused(StageEvent):
    """The stage never reached its peer: unreachable, busy, refused."""

    reason: str = ""
    busy: bool = False  # the peer is full: not a strike, nor an attempt spent


@dataclass(frozen=True)
class StreamBroke(StageEvent):
    reason: str = ""


@dataclass(frozen=True)
class PeerGone:
    now: float
    peer: str


@dataclass(frozen=True)
class PeerJoined:
    now: float
    peer: str
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeadlinePassed:
    """A clock tick: every deadline at or before ``now`` has passed."""

    now: float


@dataclass(frozen=True)
class OutputLost:
    """A ``Resend`` found the producer or its copy of the output gone."""

    now: float
    dep: str
    dep_attempt: int
    to_sid: str
    to_attempt: int


@dataclass(frozen=True)
class OutputUndeliverable:
    """A ``Resend``'s producer has the output but cannot reach the consumer."""

    now: float
    dep: str
    to_sid: str
    to_attempt: int
    to_peer: str


@dataclass(frozen=True)
class LeaseLost:
    now: float


@dataclass(frozen=True)
class CheckDone:
    """The answer to an ``AskCheck``: "accepted", "unchecked" (no checker could
    run it: used as an unchecked output is) or "rejected" (a confirmed
    failure: two checkers rejected it); ``penalize``: the offences it proved."""

    now: float
    sid: str
    attempt: int
    peer: str
    verdict: str
    penalize: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in ("accepted", "unchecked", "rejected"):
            raise ValueError(f"unknown check verdict {self.verdict!r}")


Event = (Start | Placed | StageDone | HandoffFailed | StageFailed | StageRefused | StreamBroke | PeerGone | PeerJoined
         | DeadlinePassed | OutputLost | OutputUndeliverable | LeaseLost | CheckDone)


# --- actions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    sid: str
    peer: str
    attempt: int


@dataclass(frozen=True)
class Place:
    """Choose peers for ``sids``; answer with ``Placed``."""

    sids: tuple[str, ...]
    exclude: Mapping[str, frozenset[str]]
    initial: bool = False


@dataclass(frozen=True)
class Save:
    """Store a subtask's record (the executor keeps its copy in step)."""

    record: SubtaskRecord


@dataclass(frozen=True)
class SendAssignment:
    """Start the stage (a new attempt; the subtask's older stage is cancelled)."""

    sid: str
    peer: str
    attempt: int
    downstream: tuple[Route, ...]
    checked: bool = False  # its output comes back to the gateway and is checked before any use (no downstream)


@dataclass(frozen=True)
class AskCheck:
    """Have another peer with the same weights check ``sid``'s output (its
    report is held); answer with ``CheckDone``."""

    sid: str
    attempt: int
    producer: str
    output_hash: str
    used: Mapping[str, str]  # dependency -> the output hash the stage was built on (its prompt's inputs)


@dataclass(frozen=True)
class AskResend:
    """Ask ``producer`` to send its output of ``dep`` to ``to``; answer with
    ``OutputLost`` or ``OutputUndeliverable`` when it cannot."""

    dep: str
    dep_attempt: int
    producer: str
    to: Route


@dataclass(frozen=True)
class Recompute:
    """``dep``'s output is gone with its producer: it runs again (telling only)."""

    dep: str
    producer: str
    reason: str


@dataclass(frozen=True)
class Park:
    sid: str
    capability: str


@dataclass(frozen=True)
class Notify:
    """A job event for the client: subtask_started, subtask_finished, subtask_retry."""

    kind: str
    sid: str
    peer: str
    detail: str


@dataclass(frozen=True)
class Penalize:
    peer: str
    reason: str


@dataclass(frozen=True)
class Ignored:
    """A stale or late event, counted."""

    what: str
    sid: str
    attempt: int


@dataclass(frozen=True)
class Finish:
    pass


@dataclass(frozen=True)
class Fail:
    reason: str


@dataclass(frozen=True)
class Stop:
    """This gateway stops running the job without an end (another one has it)."""

    reason: str


Action = (Place | Save | SendAssignment | AskResend | Recompute | Park | Notify | Penalize | Ignored | Finish
          | Fail | Stop | AskCheck)
