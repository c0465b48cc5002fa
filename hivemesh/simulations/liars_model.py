"""The liars scenario as a discrete-event model: the real pipeline state
machine (``pipeline.step``), the real trust policy (``TrustBook``,
``pick_checker``) and the real local reputation, driven without a network,
so that thousands of jobs run in seconds (``hivemesh simulate --scenario
liars --model-only``).

Jobs are chains of ``stages`` subtasks, one after another; workers serve one
capability each (slot ``j`` serves capability ``j % n``, as the real-peer
scenario places them), the first ``liars`` of them lie (``liars.KINDS``: a
different model, random text and a subtly altered answer always lie; the
occasional liar a third of the time). Placement picks a random usable worker
(not excluded, not banned). A check's verdict is the truth, except that an
honest output is falsely rejected with probability ``false_reject`` (near
ties on real models). Outputs carry their lineage in their hash, so a job
whose answer was built on a lie that no check caught is counted.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.pipeline import step
from hivemesh.gateway.trust import TrustBook, TrustSettings, pick_checker
from hivemesh.mesh.reputation import Reputation
from hivemesh.simulations.liars import KINDS, SOMETIMES
from hivemesh.simulations.workload import capability_count, chain_plan, stage_capability
from hivemesh.worker.protocol import TaskReply

STAGE_S = 1.0  # model seconds per stage (for the reputation's decay)


@dataclass
class Model:
    workers: int = 8
    liars: int = 2
    stages: int = 3
    jobs: int = 1000
    check_share: float = 0.05
    false_reject: float = 0.005
    seed: int = 0
    kinds_of_liars: tuple[str, ...] = ()  # the liars' kinds in turn (default: ``liars.KINDS`` in turn)
    rnd: random.Random = field(init=False)
    book: TrustBook = field(init=False)
    rep: Reputation = field(default_factory=Reputation)
    now: float = 0.0
    stats: Counter[str] = field(default_factory=Counter)
    produced: Counter[str] = field(default_factory=Counter)
    banned_after: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)
        self.book = TrustBook(TrustSettings(trusted_share=self.check_share), random.Random(self.seed + 1))
        self.ncaps = capability_count(self.stages, self.workers)
        self.caps = {f"w{j}": stage_capability(j, self.ncaps) for j in range(self.workers)}
        kinds = self.kinds_of_liars or KINDS
        self.kinds = {f"w{j}": kinds[j % len(kinds)] if j < self.liars else "" for j in range(self.workers)}
        self.plan = chain_plan(self.stages, self.ncaps)

    # --- one job -----------------------------------------------------------------------

    def run_job(self) -> str:
        """"wrong", "right" or "failed"."""
        state = ps.initial(self.plan, {}, ps.Timing())
        queue: list[ps.Event] = [ps.Start(self.now)]
        sent: dict[str, ps.SendAssignment] = {}
        while state.outcome == "running":
            if not queue:
                queue.append(self._next(state, sent))
            state, actions = step(state, queue.pop(0))
            for action in actions:
                event = self._do(action, sent)
                if event is not None:
                    queue.append(event)
        if state.outcome != "done":
            return "failed"
        lie = any(s.record.output_hash.endswith(("!lie", "!tainted")) for s in state.subs.values())
        return "wrong" if lie else "right"

    def _next(self, state: ps.State, sent: dict[str, ps.SendAssignment]) -> ps.Event:
        """The next stage to finish: one whose inputs are done (chains: at most one)."""
        self.now += STAGE_S
        for sid in state.graph.order:
            sub = state.sub(sid)
            if sub.status == "running" and sub.checking is None and state.inputs_done(sid):
                return self._finish(state, sent[sid])
        return ps.DeadlinePassed(self.now)

    def _finish(self, state: ps.State, a: ps.SendAssignment) -> ps.StageDone:
        self.stats["stages_run"] += 1
        self.produced[a.peer] += 1
        lies = self._lies(a.peer)
        self.stats["lies_made"] += lies
        used = {d: state.sub(d).record.output_hash for d in state.graph.deps[a.sid]}
        tainted = any(u.endswith(("!lie", "!tainted")) for u in used.values())  # built on a lie: wrong too
        h = f"{a.sid}#{a.attempt}@{a.peer}" + ("!lie" if lies else "!tainted" if tainted else "")
        reply = TaskReply(task_id=a.sid, ok=True, text="", peer_id=a.peer, model="sim")
        return ps.StageDone(self.now, a.sid, a.attempt, a.peer, reply=reply, output_hash=h, used=used,
                            delivered=frozenset((r.sid, r.peer, r.attempt) for r in a.downstream))

    def _lies(self, peer: str) -> bool:
        kind = self.kinds[peer]
        return bool(kind) and (kind != "sometimes" or self.rnd.random() < SOMETIMES)

    # --- the executor's part ----------------------------------------------------------------

    def _do(self, action: ps.Action, sent: dict[str, ps.SendAssignment]) -> ps.Event | None:
        match action:
            case ps.Place():
                return self._place(action)
            case ps.SendAssignment():
                sent[action.sid] = action
            case ps.AskCheck():
                return self._check(action)
            case ps.Penalize(peer, offence):
                self.rep.penalize(peer, offence, self.now)
        return None

    def usable(self, cap: str, exclude: frozenset[str] = frozenset()) -> list[str]:
        return [p for p, c in self.caps.items() if c == cap and p not in exclude and not self.rep.banned(p, self.now)]

    def _place(self, action: ps.Place) -> ps.Placed:
        assigned, missing, checked = {}, {}, set()
        for sid in action.sids:
            cap = self.plan.subtask(sid).capability
            pool = self.usable(cap, action.exclude.get(sid, frozenset()))
            if not pool:
                missing[sid] = cap
                continue
            peer = assigned[sid] = self.rnd.choice(pool)
            new = self.book.is_new(peer)
            self.stats["stages_new" if new else "stages_trusted"] += 1
            if len(self.usable(cap, frozenset({peer}))) >= 1 and self.book.should_check(peer):
                checked.add(sid)
                self.stats["checked_new" if new else "checked_trusted"] += 1
        return ps.Placed(self.now, assigned, (), missing, frozenset(), action.initial, frozenset(checked))

    def _opinion(self, ask: ps.AskCheck, first: str | None) -> tuple[str | None, bool]:
        cap = self.caps[ask.producer]
        checker = pick_checker(self.usable(cap), ask.producer, first, self.rnd, self.book)
        if checker is None:
            return None, False
        self.stats["checks_run"] += 1
        honest = not ask.output_hash.endswith("!lie")  # a checker runs the producer's own prompt
        return checker, honest and self.rnd.random() >= self.false_reject

    def _check(self, ask: ps.AskCheck) -> ps.CheckDone:
        first, accepted = self._opinion(ask, None)
        if first is None:
            return ps.CheckDone(self.now, ask.sid, ask.attempt, ask.producer, "unchecked")
        decision = self.book.first_verdict(ask.producer, first, accepted)
        if decision.third_opinion:
            third, accepted = self._opinion(ask, first)
            if third is None:
                self.book.unconfirmed(ask.producer)
                return ps.CheckDone(self.now, ask.sid, ask.attempt, ask.producer, "rejected")
            decision = self.book.third_verdict(ask.producer, first, accepted)
        for peer in decision.ban:
            self.banned_after.setdefault(peer, self.produced[peer])
        penalize = decision.penalize + tuple((p, "liar") for p in decision.ban)
        self.stats["checks_failed" if not decision.use_output else "checks_passed"] += 1
        return ps.CheckDone(self.now, ask.sid, ask.attempt, ask.producer,
                            "accepted" if decision.use_output else "rejected", penalize)

    # --- the run -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        outcomes = Counter(self.run_job() for _ in range(self.jobs))
        liars = {p for p, k in self.kinds.items() if k}
        honest = set(self.kinds) - liars
        banned = {p for p in self.kinds if self.rep.banned(p, self.now)}
        stages = self.stats["stages_new"] + self.stats["stages_trusted"]
        honest_checked = sum(self.book.records[p].checked for p in honest if p in self.book.records)
        return {
            "mode": "model-only (pipeline state machine + trust book, no network)",
            "workers": self.workers, "jobs": dict(outcomes), "seed": self.seed,
            "verification": {
                "liars": len(liars), "liar_kinds": sorted(self.kinds[p] for p in liars),
                "liars_banned": len(liars & banned),
                "liar_outputs_before_ban": {f"{p}:{self.kinds[p]}": self.banned_after.get(p) for p in sorted(liars)},
                "honest_banned": len(honest & banned), "honest_subtasks_checked": honest_checked,
                "subtasks_checked": self.stats["checked_new"] + self.stats["checked_trusted"],
                "checks_run": self.stats["checks_run"], "checks_failed": self.stats["checks_failed"],
                "lies_made": self.stats["lies_made"],
                "wrong_answers_delivered": outcomes["wrong"],
                "wrong_answer_share": round(outcomes["wrong"] / self.jobs, 4),
                "check_cost_share": round(self.stats["checks_run"] / stages, 4) if stages else None,
                "checked_share_trusted": (round(self.stats["checked_trusted"] / self.stats["stages_trusted"], 4)
                                          if self.stats["stages_trusted"] else None),
            },
        }
