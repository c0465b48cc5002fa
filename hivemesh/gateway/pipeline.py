"""The gateway's pipeline logic as a pure state machine: ``step(state, event)
-> (state, actions)``. No I/O: the trio executor (``conductor``) carries the
actions out and feeds what happens back as events.

Repairs, each tied to an attempt number so that stale reports are ignored:
- a stage fails, its stream breaks, it is refused, its peer leaves the view or
  it stalls past its deadline: the subtask is placed again (a new attempt, the
  peer excluded) and its done inputs are re-sent by their producers;
- a failure that says something about the subtask itself (it reached its peer
  and could run; not its peer leaving the mesh) is a strike; ``MAX_STRIKES``
  fail the job, and no subtask is placed more than ``MAX_ATTEMPTS`` times;
- a producer that lost its output (or left) has it recomputed;
- a report whose output went to a peer that no longer holds that attempt of
  a subtask has the producer re-send it, and so does a hand-off that the
  report counted as sent but that its peer did not take (``HandoffFailed``,
  after the report: workers report before the acks are in);
- a subtask built on an output that has since been replaced (another attempt
  of its producer) is run again, so the answer's inputs all come from one
  attempt of each producer;
- no usable peer: the subtask is parked and tries again every
  ``retry_backoff_s`` (and when a capable peer joins) until
  ``capability_wait_s`` has passed, then the job fails.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from hivemesh.gateway import jobstate, pipecheck
from hivemesh.gateway.pipestate import (
    MAX_ATTEMPTS, MAX_BUSY, MAX_STRIKES, Action, AskResend, CheckDone, DeadlinePassed, Event, Fail, Finish,
    HandoffFailed, Ignored, LeaseLost,
    Notify, OutputLost, OutputUndeliverable, Park, PeerGone, PeerJoined, Penalize, Place, Placed, Recompute,
    Route, Save, SendAssignment, StageDone, StageEvent, StageFailed, StageRefused, Start, State, Stop, StreamBroke,
    Sub,
)

__all__ = ["step"]


def step(state: State, event: Event) -> tuple[State, list[Action]]:
    """The next state and the actions to carry out. ``state`` is not changed."""
    if state.outcome != "running":
        return state, []
    work = _Work(state)
    _HANDLERS[type(event)](work, event)
    return work.result()


class _Work:
    """One step's scratch copy of the state, and the actions it produced."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.g, self.t = state.graph, state.timing
        self.subs: dict[str, Sub] = dict(state.subs)
        self.actions: list[Action] = []
        self.outcome, self.reason, self.finish_at = state.outcome, state.reason, state.finish_at

    def result(self) -> tuple[State, list[Action]]:
        new = replace(self.state, subs=MappingProxyType(self.subs), outcome=self.outcome, reason=self.reason,
                      finish_at=self.finish_at)
        return new, self.actions

    # --- small helpers -----------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.outcome == "running"

    def answered(self) -> bool:
        return self.subs[self.g.answer].status == "done"

    def inputs_done(self, sid: str) -> bool:
        return all(self.subs[d].status == "done" for d in self.g.deps[sid])

    def set(self, sid: str, **changes: object) -> Sub:
        sub = self.subs[sid] = replace(self.subs[sid], **changes)
        return sub

    def save(self, sid: str, record: object) -> None:
        self.set(sid, record=record)
        self.actions.append(Save(self.subs[sid].record))

    def fail(self, reason: str) -> None:
        if self.live:
            self.outcome, self.reason = "failed", reason
            self.actions.append(Fail(reason))

    def finish(self) -> None:
        if self.live:
            self.outcome = "done"
            self.actions.append(Finish())

    def stale(self, event: StageEvent, what: str) -> bool:
        sub = self.subs[event.sid]
        if event.attempt != sub.attempt or sub.status != "running" or event.peer != sub.peer:
            self.actions.append(Ignored(what, event.sid, event.attempt))
            return True
        return False

    # --- placing -----------------------------------------------------------------

    def place(self, sids: list[str], initial: bool = False) -> None:
        """Take ``sids`` off their peers (if any) and ask for new placements."""
        todo = []
        for sid in sids:
            sub = self.subs[sid]
            if sub.status == "done" or sub.placing:
                continue
            if sub.status == "running":
                self.save(sid, replace(sub.record, status="pending", peer_id=""))
            self.set(sid, placing=True, runnable_since=None, held=None, **pipecheck.CLEARED)
            todo.append(sid)
        if todo and self.live:
            exclude = {sid: self.subs[sid].exclude for sid in todo}
            self.actions.append(Place(tuple(todo), MappingProxyType(exclude), initial))

    def routes(self, sid: str) -> tuple[Route, ...]:
        return tuple(Route(c, self.subs[c].peer, self.subs[c].attempt)
                     for c in self.g.children[sid] if self.subs[c].status == "running")

    def feed(self, sid: str) -> None:
        """Have each done dependency's producer send its output to ``sid``'s stage."""
        sub = self.subs[sid]
        for dep in self.g.deps[sid]:
            d = self.subs[dep]
            if d.status == "done":
                self.actions.append(AskResend(dep, d.attempt, d.peer, Route(sid, sub.peer, sub.attempt)))

    def park(self, sid: str, capability: str, now: float, clear_exclude: bool) -> None:
        sub = self.subs[sid]
        deadline = sub.park_deadline if sub.park_deadline is not None else now + self.t.capability_wait_s
        self.set(sid, placing=False, parked=capability, park_deadline=deadline,
                 retry_at=now + self.t.retry_backoff_s, clear_exclude=clear_exclude)
        self.actions.append(Park(sid, capability))

    def failed(self, sid: str, peer: str, reason: str, strike: bool, now: float) -> None:
        if self.answered() or not self.live:
            return  # the answer is in: nothing upstream is worth repairing
        sub = self.subs[sid]
        if strike:
            sub = self.set(sid, strikes=sub.strikes + 1)
            if sub.strikes >= MAX_STRIKES:
                self.fail(f"subtask {sid} failed {sub.strikes} times (last: {reason})")
                return
        self.set(sid, exclude=sub.exclude | {peer})
        self.actions.append(Notify("subtask_retry", sid, peer, reason[:300]))
        self.place([sid])

    def recompute(self, dep: str, reason: str) -> None:
        d = self.subs[dep]
        self.actions.append(Recompute(dep, d.peer, reason))
        self.actions.append(Notify("subtask_retry", dep, d.peer, f"{reason}; recomputing"))
        self.save(dep, replace(d.record, status="pending", peer_id=""))
        self.set(dep, used=MappingProxyType({}))
        self.place([dep])

    def mark_runnable(self, sid: str, now: float) -> None:
        sub = self.subs[sid]
        if sub.status == "running" and sub.runnable_since is None and self.inputs_done(sid):
            self.set(sid, runnable_since=now)


# --- handlers ----------------------------------------------------------------------


def _start(w: _Work, e: Start) -> None:
    if w.answered():  # a resumed job whose answer is in
        w.finish()
        return
    w.place([sid for sid in w.g.order if w.subs[sid].status != "done"], initial=True)


def _placed(w: _Work, e: Placed) -> None:
    mine = [sid for sid in w.g.order if w.subs[sid].placing and w.subs[sid].status == "pending"]
    fresh = e.initial and all(s.attempt == 0 for s in w.subs.values())  # not a resumed job (its gateway's
    for sid in mine:  # view may still be forming; the plan had the capability): fail at once when unknown
        if sid in e.missing and fresh and e.missing[sid] in e.unknown:
            w.fail(f"no peer in the mesh offers capability {e.missing[sid]!r} (subtask {sid})")
            return
    sent = []
    for sid in mine:
        if sid in e.assigned:
            if w.subs[sid].attempt - w.subs[sid].busy >= MAX_ATTEMPTS:
                w.fail(f"subtask {sid} was placed {MAX_ATTEMPTS} times without a result")
                return
            w.save(sid, jobstate.started(w.subs[sid].record, e.assigned[sid]))
            w.set(sid, placing=False, parked="", park_deadline=None, retry_at=None, clear_exclude=False,
                  checked=sid in e.checked)
            sent.append(sid)
        elif sid in e.waiting:
            w.park(sid, w.g.caps[sid], e.now, clear_exclude=True)
        elif sid in e.missing:
            w.park(sid, e.missing[sid], e.now, clear_exclude=False)
    for sid in sent:  # every new placement is known before any routes are drawn
        sub = w.subs[sid]
        routes = () if sub.checked else w.routes(sid)  # a checked output goes nowhere before its verdict
        w.actions.append(SendAssignment(sid, sub.peer, sub.attempt, routes, sub.checked))
        w.actions.append(Notify("subtask_started", sid, sub.peer, f"attempt {sub.attempt}"))
        w.mark_runnable(sid, e.now)
    for sid in sent:
        w.feed(sid)


def _done(w: _Work, e: StageDone) -> None:
    if w.stale(e, "done"):
        return
    sub = w.subs[e.sid]
    if not e.verified:
        w.actions.append(Penalize(e.peer, "bad_report"))
        w.failed(e.sid, e.peer, "report failed verification", strike=False, now=e.now)  # the peer's fault
        return
    deps = w.g.deps[e.sid]
    behind = [d for d in deps if w.subs[d].status == "done" and not _same(e.used.get(d, ""), w.subs[d].record.output_hash)]
    if behind:  # built on an output that has been replaced since: its result is not used
        w.failed(e.sid, e.peer, f"built on a replaced output of {', '.join(behind)}", strike=False, now=e.now)
        return
    if any(w.subs[d].status != "done" for d in deps):  # an input's report is not in yet (reports race)
        w.set(e.sid, held=sub.held or e)  # a copy of it again keeps what ``HandoffFailed`` told the first
        return
    if pipecheck.hold(w, e):  # a checked output: its report waits for the verdict
        return
    w.save(e.sid, replace(jobstate.finished(sub.record, e.reply), output_hash=e.output_hash, check=e.check))
    w.set(e.sid, used=MappingProxyType(dict(e.used)), runnable_since=None)
    w.actions.append(Notify("subtask_finished", e.sid, e.peer, e.detail))
    if w.answered():
        if all(s.status == "done" for s in w.subs.values()):
            w.finish()
        elif w.finish_at is None:
            w.finish_at = e.now + w.t.report_grace_s
        return
    for child in w.g.children[e.sid]:
        c = w.subs[child]
        if c.held is not None and c.status == "running":
            w.set(child, held=None)
            _done(w, replace(c.held, now=e.now))
            if not w.live or w.answered():
                return
            c = w.subs[child]
        if c.status == "running":
            w.mark_runnable(child, e.now)
            if (child, c.peer, c.attempt) not in e.delivered:
                w.actions.append(AskResend(e.sid, sub.attempt, e.peer, Route(child, c.peer, c.attempt)))
        elif c.status == "done" and not _same(c.used.get(e.sid, ""), e.output_hash):
            w.recompute(child, f"its input {e.sid} was recomputed with another output")


def _handoff_failed(w: _Work, e: HandoffFailed) -> None:
    """Copies a report counted as handed off that were not taken: re-sent by
    their producer, as for a report that said so itself (a held report is
    told, for when it is taken)."""
    sub = w.subs[e.sid]
    routes = {r for r in e.routes if r[0] in w.g.children[e.sid]}
    if sub.attempt != e.attempt or sub.peer != e.peer or not routes:
        w.actions.append(Ignored("undelivered", e.sid, e.attempt))
    elif sub.status == "running" and sub.held is not None:
        w.set(e.sid, held=replace(sub.held, delivered=sub.held.delivered - routes))
    elif sub.status != "done" or w.answered():
        w.actions.append(Ignored("undelivered", e.sid, e.attempt))
    else:
        for child, peer, attempt in sorted(routes):
            c = w.subs[child]
            if c.status == "running" and (c.peer, c.attempt) == (peer, attempt):
                w.actions.append(AskResend(e.sid, sub.attempt, e.peer, Route(child, peer, attempt)))


def _same(used: str, current: str) -> bool:
    return not used or not current or used == current  # unknown (a resumed or cached record) counts as the same


def _stage_failed(w: _Work, e: StageFailed) -> None:
    if not w.stale(e, "failed"):
        w.failed(e.sid, e.peer, e.reason, strike=w.inputs_done(e.sid) and not e.suspect, now=e.now)


def _stream_broke(w: _Work, e: StreamBroke) -> None:
    if not w.stale(e, "broke"):
        w.failed(e.sid, e.peer, f"stage stream lost: {e.reason}", strike=w.inputs_done(e.sid) and not e.suspect,
                 now=e.now)


def _refused(w: _Work, e: StageRefused) -> None:
    if not w.stale(e, "refused"):
        if e.busy:  # a full peer: place elsewhere, or wait (parked) until one has room
            if w.set(e.sid, busy=w.subs[e.sid].busy + 1).busy >= MAX_BUSY:
                w.fail(f"subtask {e.sid} was refused by busy peers {MAX_BUSY} times: the mesh stayed full")
                return
        w.failed(e.sid, e.peer, e.reason, strike=False, now=e.now)


def _peer_gone(w: _Work, e: PeerGone) -> None:
    for sid in w.g.order:  # a peer that left the mesh failed, not the subtask (a stage that crashes its
        sub = w.subs[sid]  # worker breaks its stream first: that is a strike)
        if sub.status == "running" and sub.peer == e.peer:
            w.failed(sid, e.peer, "peer left the mesh", strike=False, now=e.now)


def _peer_joined(w: _Work, e: PeerJoined) -> None:
    again = [sid for sid in w.g.order
             if w.subs[sid].parked and w.subs[sid].parked in e.capabilities and e.peer not in w.subs[sid].exclude]
    for sid in again:
        w.set(sid, parked="", retry_at=None)
    w.place(again)


def _deadline(w: _Work, e: DeadlinePassed) -> None:
    if w.finish_at is not None and e.now >= w.finish_at:
        w.finish()
        return
    again = []
    for sid in w.g.order:
        sub = w.subs[sid]
        if sub.status == "running" and pipecheck.overdue(w, sid, e.now):
            continue
        if sub.parked and sub.park_deadline is not None and e.now >= sub.park_deadline:
            w.fail(f"no peer offering {sub.parked!r} came back within {w.t.capability_wait_s:.0f}s")
            return
        if sub.parked and sub.retry_at is not None and e.now >= sub.retry_at:
            w.set(sid, parked="", retry_at=None, exclude=frozenset() if sub.clear_exclude else sub.exclude)
            again.append(sid)
        elif sub.status == "running" and not w.inputs_done(sid):
            w.set(sid, runnable_since=None)  # an input is being recomputed: the clock starts again
        elif sub.status == "running" and sub.runnable_since is None:
            w.set(sid, runnable_since=e.now)
        elif sub.status == "running" and e.now - sub.runnable_since > w.t.subtask_deadline_s + w.t.stall_grace_s:
            w.failed(sid, sub.peer, "no report long past the deadline: stalled", strike=True, now=e.now)
    w.place(again)


def _lost(w: _Work, e: OutputLost) -> None:
    d, to = w.subs[e.dep], w.subs[e.to_sid]
    if d.status != "done" or d.attempt != e.dep_attempt or w.answered():
        w.actions.append(Ignored("output lost", e.dep, e.dep_attempt))  # already being recomputed
        return
    if to.status != "running" or to.attempt != e.to_attempt:
        w.actions.append(Ignored("output lost", e.to_sid, e.to_attempt))  # its new attempt asks again
        return
    w.recompute(e.dep, "output lost")


def _undeliverable(w: _Work, e: OutputUndeliverable) -> None:
    to = w.subs[e.to_sid]
    if to.status != "running" or to.attempt != e.to_attempt or to.peer != e.to_peer:
        w.actions.append(Ignored("undeliverable", e.to_sid, e.to_attempt))
        return
    w.failed(e.to_sid, e.to_peer, "unreachable for its inputs", strike=False, now=e.now)


def _lease_lost(w: _Work, e: LeaseLost) -> None:
    w.outcome, w.reason = "stopped", "lost the job's lease to another gateway"
    w.actions.append(Stop(w.reason))


_HANDLERS = {
    Start: _start, Placed: _placed, StageDone: _done, HandoffFailed: _handoff_failed, StageFailed: _stage_failed,
    StreamBroke: _stream_broke, StageRefused: _refused, PeerGone: _peer_gone, PeerJoined: _peer_joined,
    DeadlinePassed: _deadline, OutputLost: _lost, OutputUndeliverable: _undeliverable, LeaseLost: _lease_lost,
    CheckDone: lambda w, e: pipecheck.check_done(w, e, _done),
}
