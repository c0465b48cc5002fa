"""A small world for the pipeline state machine: peers that run stages, keep
outputs, deliver them (first copy wins, early copies held, as a worker does)
and die. A finished stage reports once its output is written downstream; the
copies land (or not) when the world says, and the ones not taken are told
after the report (``HandoffFailed``), as a worker does. It answers the machine's actions the way the trio executor does, but
lets a test choose when each thing happens. Outputs differ per attempt (the
worst case: a replaced attempt's output is never the same text), and the world
knows every output's true lineage."""

from __future__ import annotations

from dataclasses import dataclass, field

from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.pipeline import step
from hivemesh.planner.plan import Plan, Subtask
from hivemesh.worker.protocol import TaskReply

CAPS = ("summarize", "analysis", "general")


def plan_of(shape: str) -> Plan:
    """Chain a->b->c, diamond a->b->j with a->j, fan-in a,b->j."""
    s = {
        "chain": [("a", "summarize", ()), ("b", "analysis", ("a",)), ("c", "general", ("b",))],
        "diamond": [("a", "summarize", ()), ("b", "analysis", ("a",)), ("j", "general", ("a", "b"))],
        "fanin": [("a", "summarize", ()), ("b", "summarize", ()), ("j", "analysis", ("a", "b"))],
    }[shape]
    subtasks = tuple(Subtask(i, cap, "x " + " ".join(f"{{{{out:{d}}}}}" for d in deps), deps, 16) for i, cap, deps in s)
    return Plan(subtasks=subtasks, answer=s[-1][0], planner="test")


@dataclass
class Stage:
    sid: str
    attempt: int
    peer: str
    downstream: tuple[ps.Route, ...]
    inputs: dict[str, str] = field(default_factory=dict)  # dep -> output hash, first copy wins


@dataclass
class Handoff:
    """A finished stage's output on its way downstream (its report may be ahead of it)."""

    done: ps.StageDone
    routes: tuple[ps.Route, ...]


@dataclass
class World:
    plan: Plan
    peers: dict[str, frozenset[str]]  # peer -> capabilities
    alive: set[str]
    state: ps.State = None  # type: ignore[assignment]
    now: float = 0.0
    stages: dict[tuple[str, int], Stage] = field(default_factory=dict)
    resends: list[ps.AskResend] = field(default_factory=list)
    kept: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (peer, sid) -> (attempt, hash)
    early: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (peer, sid, dep) -> hash
    lineage: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)  # hash -> (producer, hash)s
    last_sent: dict[str, ps.SendAssignment] = field(default_factory=dict)
    reports: list[ps.Event] = field(default_factory=list)  # every stage event stepped, for replaying late
    terminal: list[ps.Action] = field(default_factory=list)
    accepted: list[tuple[str, int, str]] = field(default_factory=list)  # (sid, attempt, hash) saved as done
    after_end: int = 0  # actions asked for after the end
    notes: list[ps.Notify] = field(default_factory=list)  # the client's subtask events
    liars: frozenset[str] = frozenset()
    check_all: bool = False  # check every output, else only the liars' (the trust book's choice, simplified)
    checks: list[ps.AskCheck] = field(default_factory=list)  # asked, not yet answered
    checked_sent: set[tuple[str, int]] = field(default_factory=set)  # (sid, attempt) sent as checked
    unaccepted: set[tuple[str, int]] = field(default_factory=set)  # checked outputs made, no verdict yet
    penalized: list[tuple[str, str]] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)  # outputs written downstream, not landed yet
    fed: dict[int, ps.StageDone] = field(default_factory=dict)  # reports stepped, by id
    told_after: dict[int, list[ps.HandoffFailed]] = field(default_factory=dict)  # report id -> what follows it

    def __post_init__(self) -> None:
        self.state = ps.initial(self.plan, {}, ps.Timing(subtask_deadline_s=30.0, stall_grace_s=10.0))

    # --- stepping and carrying out -------------------------------------------------

    def feed(self, event: ps.Event) -> None:
        queue = [event]
        while queue:
            ended = self.state.outcome != "running"
            event = queue.pop(0)
            self.state, actions = step(self.state, event)
            if ended:
                self.after_end += len(actions)
            for action in actions:
                answer = self.carry_out(action)
                if answer is not None:
                    queue.append(answer)
            if isinstance(event, ps.StageDone):  # what the stage's stream says after its report
                self.fed[id(event)] = event
                queue.extend(self.told_after.pop(id(event), []))

    def carry_out(self, action: ps.Action) -> ps.Event | None:
        match action:
            case ps.Place():
                return self.placed(action)
            case ps.SendAssignment():
                self.send(action)
            case ps.AskResend():
                assert (action.dep, action.dep_attempt) not in self.unaccepted, "an output used before its check"
                self.resends.append(action)
            case ps.AskCheck():
                assert (action.sid, action.attempt) in self.checked_sent
                self.checks.append(action)
            case ps.Penalize(peer, offence):
                self.penalized.append((peer, offence))
            case ps.Save(record) if record.status == "done":
                sent = self.last_sent[record.id]
                assert (sent.attempt, sent.peer) == (record.attempts, record.peer_id), "a stale attempt's output used"
                assert (record.id, record.attempts) not in self.unaccepted, "an output used before its check"
                assert not ((record.id, record.attempts) in self.checked_sent and record.output_hash.endswith("!lie")), \
                    "a checked liar's output used"
                self.accepted.append((record.id, record.attempts, record.output_hash))
            case ps.Notify():
                self.notes.append(action)
            case ps.Finish() | ps.Fail() | ps.Stop():
                self.terminal.append(action)
        return None

    def placed(self, action: ps.Place) -> ps.Placed:
        assigned, waiting, missing = {}, [], {}
        for sid in action.sids:
            cap = self.plan.subtask(sid).capability
            capable = sorted(p for p in self.alive if cap in self.peers[p])
            usable = [p for p in capable if p not in action.exclude.get(sid, frozenset())]
            if usable:
                assigned[sid] = min(usable, key=lambda p: sum(s.peer == p for s in self.stages.values()))
            elif capable:
                waiting.append(sid)
            else:
                missing[sid] = cap
        checked = frozenset(sid for sid, p in assigned.items() if self.check_all or p in self.liars)
        return ps.Placed(self.now, assigned, tuple(waiting), missing, frozenset(), action.initial, checked)

    def send(self, action: ps.SendAssignment) -> None:
        for key in [k for k in self.stages if k[0] == action.sid]:
            del self.stages[key]  # the old attempt is cancelled with its stream
        self.last_sent[action.sid] = action
        if action.checked:
            assert action.downstream == (), "a checked stage's output must go nowhere before its verdict"
            self.checked_sent.add((action.sid, action.attempt))
        if action.peer not in self.alive:
            return
        stage = Stage(action.sid, action.attempt, action.peer, action.downstream)
        for dep in self.plan.subtask(action.sid).depends_on:
            held = self.early.pop((action.peer, action.sid, dep), None)
            if held is not None:
                stage.inputs[dep] = held
        self.stages[(action.sid, action.attempt)] = stage

    # --- what the world does ------------------------------------------------------------

    def runnable(self) -> list[Stage]:
        return [s for s in self.stages.values()
                if s.peer in self.alive and len(s.inputs) == len(self.plan.subtask(s.sid).depends_on)]

    def deliver(self, dep: str, h: str, route: ps.Route) -> bool:
        if route.peer not in self.alive:
            return False
        stage = self.stages.get((route.sid, route.attempt))
        if stage is None or stage.peer != route.peer:
            other = [s for s in self.stages.values() if s.sid == route.sid and s.peer == route.peer]
            if other:  # a newer attempt of that subtask on the same peer takes it
                other[0].inputs.setdefault(dep, h)
            else:
                self.early.setdefault((route.peer, route.sid, dep), h)
            return True
        stage.inputs.setdefault(dep, h)
        return True

    def finish(self, stage: Stage, land: bool = True) -> ps.StageDone:
        """``stage``'s report; its output is written to every downstream stage
        (and lands there at once with ``land``, else at ``land_handoff``)."""
        del self.stages[(stage.sid, stage.attempt)]
        h = f"{stage.sid}#{stage.attempt}@{stage.peer}" + ("!lie" if stage.peer in self.liars else "")
        if (stage.sid, stage.attempt) in self.checked_sent:
            self.unaccepted.add((stage.sid, stage.attempt))
        self.lineage[h] = frozenset((d, hd) for d, hd in stage.inputs.items()).union(
            *(self.lineage.get(hd, frozenset()) for hd in stage.inputs.values()))
        self.kept[(stage.peer, stage.sid)] = (stage.attempt, h)
        written = frozenset((r.sid, r.peer, r.attempt) for r in stage.downstream)
        reply = TaskReply(task_id=stage.sid, ok=True, text=h, peer_id=stage.peer, model="m")
        done = ps.StageDone(self.now, stage.sid, stage.attempt, stage.peer, reply=reply, output_hash=h,
                            delivered=written, used=dict(stage.inputs))
        self.handoffs.append(Handoff(done, stage.downstream))
        if land:
            self.land_handoff(self.handoffs[-1])
        return done

    def land_handoff(self, handoff: Handoff) -> None:
        """The copies arrive where their peers are up (none when the producer
        died first: its stream breaks); the gateway hears of the rest after the report."""
        self.handoffs.remove(handoff)
        d = handoff.done
        missed = frozenset((r.sid, r.peer, r.attempt) for r in handoff.routes
                           if d.peer not in self.alive or not self.deliver(d.sid, d.output_hash, r))
        if not missed:
            return
        told = ps.HandoffFailed(self.now, d.sid, d.attempt, d.peer, routes=missed)
        if id(d) in self.fed:
            self.feed(told)
        else:
            self.told_after.setdefault(id(d), []).append(told)

    def resend(self, ask: ps.AskResend) -> ps.Event | None:
        kept = self.kept.get((ask.producer, ask.dep)) if ask.producer in self.alive else None
        if kept is None or kept[0] != ask.dep_attempt:
            return ps.OutputLost(self.now, ask.dep, ask.dep_attempt, ask.to.sid, ask.to.attempt)
        if not self.deliver(ask.dep, kept[1], ask.to):
            return ps.OutputUndeliverable(self.now, ask.dep, ask.to.sid, ask.to.attempt, ask.to.peer)
        return None

    def verdict(self, ask: ps.AskCheck, unavailable: bool = False) -> ps.CheckDone:
        """The checkers' verdict on a held output: the truth (or "unchecked")."""
        lie = ask.output_hash.endswith("!lie")
        if unavailable:
            verdict = "unchecked"
            self.checked_sent.discard((ask.sid, ask.attempt))  # used as an unchecked output is
        else:
            verdict = "rejected" if lie else "accepted"
        if verdict != "rejected":
            self.unaccepted.discard((ask.sid, ask.attempt))
        penalize = ((ask.producer, "wrong_output"),) if verdict == "rejected" else ()
        return ps.CheckDone(self.now, ask.sid, ask.attempt, ask.producer, verdict, penalize)

    def kill(self, peer: str) -> None:
        self.alive.discard(peer)
        for key in [k for k in self.kept if k[0] == peer]:
            del self.kept[key]
        for key in [k for k in self.early if k[0] == peer]:
            del self.early[key]

    def revive(self, peer: str) -> None:
        self.alive.add(peer)

    # --- what must hold -----------------------------------------------------------------

    def answer_lineage_consistent(self) -> bool:
        """The answer's inputs, all the way up, come from one attempt of each producer."""
        answer = self.plan.answer
        h = self.state.sub(answer).record.output_hash
        seen: dict[str, str] = {}
        for producer, ph in self.lineage.get(h, frozenset()):
            if seen.setdefault(producer, ph) != ph:
                return False
        return True
