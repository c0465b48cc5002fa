"""The pipeline state machine under random interleavings: stages finish or
fail, their outputs land downstream before or after their reports (or not at
all: the gateway hears so after the report), streams break, peers die and
join, resends succeed or find the output gone, reports arrive late and twice,
the lease is lost, the clock runs.

Whatever happens: a job ends exactly once; a stale attempt's output is never
used; the answer's inputs come from one attempt of each producer; attempts are
bounded; nothing waits without a deadline; and once the world calms down
(peers back, time passing) every job ends. With checks: liars' outputs are
checked (or every output is), a checked output is used by nothing before its
verdict, a rejected one never, and its producer is charged."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hivemesh.gateway import pipestate as ps
from tests.gateway.pipeworld import CAPS, World, plan_of

PEERS = ("p0", "p1", "p2", "p3", "p4")
pick = st.integers(0, 1000)


class Pipeline(RuleBasedStateMachine):
    world: World

    @initialize(shape=st.sampled_from(["chain", "diamond", "fanin"]),
                caps=st.lists(st.sets(st.sampled_from(CAPS), min_size=1), min_size=len(PEERS), max_size=len(PEERS)),
                liars=st.sets(st.sampled_from(PEERS), max_size=2), check_all=st.booleans())
    def start(self, shape, caps, liars, check_all):
        peers = {p: frozenset(c) for p, c in zip(PEERS, caps)}
        for i, cap in enumerate(CAPS):  # every capability on some peer, so a calm world can finish
            peers[PEERS[i]] |= {cap}
        self.world = World(plan_of(shape), peers, set(PEERS), liars=frozenset(liars), check_all=check_all)
        self.in_flight = []
        self.verdicts = []
        self.world.feed(ps.Start(0.0))

    # --- the world acts ------------------------------------------------------------------

    @precondition(lambda self: self.world.runnable())
    @rule(i=pick, delayed=st.booleans(), landed=st.booleans())
    def stage_finishes(self, i, delayed, landed):
        stages = self.world.runnable()
        done = self.world.finish(stages[i % len(stages)], land=landed)  # else its copies are on the way
        if delayed:  # its report is still on the way
            self.in_flight.append(done)
        else:
            self._report(done)

    @precondition(lambda self: self.world.handoffs)
    @rule(i=pick)
    def handoff_lands(self, i):
        self.world.land_handoff(self.world.handoffs[i % len(self.world.handoffs)])

    @precondition(lambda self: self.in_flight)
    @rule(i=pick)
    def report_arrives(self, i):
        self._report(self.in_flight.pop(i % len(self.in_flight)))

    @precondition(lambda self: self.world.stages)
    @rule(i=pick, kind=st.sampled_from([ps.StageFailed, ps.StageRefused, ps.StreamBroke]), suspect=st.booleans())
    def stage_fails(self, i, kind, suspect):
        stages = list(self.world.stages.values())
        s = stages[i % len(stages)]
        del self.world.stages[(s.sid, s.attempt)]
        self._report(kind(self.world.now, s.sid, s.attempt, s.peer, suspect, reason="boom"))

    @precondition(lambda self: self.world.resends)
    @rule(i=pick)
    def resend_answered(self, i):
        ask = self.world.resends.pop(i % len(self.world.resends))
        event = self.world.resend(ask)
        if event is not None:
            self.world.feed(event)

    @precondition(lambda self: len(self.world.alive) > 1)
    @rule(i=pick, noticed=st.booleans())
    def peer_dies(self, i, noticed):
        alive = sorted(self.world.alive)
        peer = alive[i % len(alive)]
        self.world.kill(peer)
        if noticed:  # else the next stream to it breaks, or its stage stalls
            self.world.feed(ps.PeerGone(self.world.now, peer))

    @precondition(lambda self: len(self.world.alive) < len(PEERS))
    @rule(i=pick)
    def peer_joins(self, i):
        dead = sorted(set(PEERS) - self.world.alive)
        peer = dead[i % len(dead)]
        self.world.revive(peer)
        self.world.feed(ps.PeerJoined(self.world.now, peer, self.world.peers[peer]))

    @rule(dt=st.sampled_from([0.25, 0.25, 1.0, 3.0, 40.0]))
    def time_passes(self, dt):
        self.world.now += dt
        self.world.feed(ps.DeadlinePassed(self.world.now))

    @precondition(lambda self: self.world.reports)
    @rule(i=pick)
    def late_or_duplicate_report(self, i):
        old = self.world.reports[i % len(self.world.reports)]
        self.world.feed(old)

    @precondition(lambda self: self.world.checks)
    @rule(i=pick, unavailable=st.booleans())
    def check_answered(self, i, unavailable):
        ask = self.world.checks.pop(i % len(self.world.checks))
        before, running = len(self.world.penalized), self.world.state.outcome == "running"
        verdict = self.world.verdict(ask, unavailable and i % 4 == 0)
        self.verdicts.append(verdict)
        self.world.feed(verdict)
        if verdict.verdict == "rejected" and running:  # the offence is charged even if the stage moved on
            assert (ask.producer, "wrong_output") in self.world.penalized[before:]

    @precondition(lambda self: self.verdicts)
    @rule(i=pick)
    def late_or_duplicate_verdict(self, i):
        self.world.feed(self.verdicts[i % len(self.verdicts)])

    @rule()
    def lease_lost_sometimes(self):
        if self.world.now > 60:  # rare: only in long runs
            self.world.feed(ps.LeaseLost(self.world.now))

    def _report(self, event):
        self.world.reports.append(event)
        self.world.feed(event)

    # --- what must hold --------------------------------------------------------------------

    @invariant()
    def ends_at_most_once(self):
        assert len(self.world.terminal) <= 1, self.world.terminal
        assert self.world.after_end == 0
        assert (self.world.state.outcome == "running") == (not self.world.terminal)

    @invariant()
    def answer_built_on_one_attempt_of_each_producer(self):
        state = self.world.state
        if state.sub(state.graph.answer).status == "done":
            assert self.world.answer_lineage_consistent(), self.world.lineage

    @invariant()
    def attempts_bounded(self):
        assert all(s.attempt <= ps.MAX_ATTEMPTS and s.strikes <= ps.MAX_STRIKES for s in self.world.state.subs.values())

    @invariant()
    def every_wait_has_a_deadline(self):
        state = self.world.state
        if state.outcome != "running":
            return
        if state.sub(state.graph.answer).status == "done":
            assert state.finish_at is not None
            return
        for sid, sub in state.subs.items():
            assert not sub.placing, sid  # placements are answered at once
            if sub.checking is not None:
                assert sub.status == "running" and sub.check_deadline is not None, (sid, sub)
            elif sub.status == "pending":
                assert sub.parked and sub.park_deadline is not None and sub.retry_at is not None, (sid, sub)
            elif sub.status == "running" and state.inputs_done(sid) and sub.held is None:
                assert sub.runnable_since is not None, (sid, sub)
            elif sub.status == "running":  # waits for an input that is itself placed, parked or running
                assert not state.inputs_done(sid) or sub.held is not None

    def teardown(self):
        """Calm the world: every peer back, every stage runs, resends answered,
        time passes. The job must end, and without waiting for a stage's stall
        deadline (in a real run that is minutes: a client would call it lost)."""
        if not hasattr(self, "world"):
            return
        w = self.world
        calm_from = len(w.notes)
        for peer in sorted(set(PEERS) - w.alive):
            w.revive(peer)
            w.feed(ps.PeerJoined(w.now, peer, w.peers[peer]))
        for _ in range(400):
            if w.state.outcome != "running":
                break
            if self.in_flight:
                w.feed(self.in_flight.pop(0))
                continue
            if w.handoffs:
                w.land_handoff(w.handoffs[0])
                continue
            while w.resends:
                event = w.resend(w.resends.pop(0))
                if event is not None:
                    w.feed(event)
            if w.checks:
                w.feed(w.verdict(w.checks.pop(0)))
                continue
            runnable = w.runnable()
            if runnable:
                w.feed(w.finish(runnable[0]))
                continue
            w.now += 1.0
            w.feed(ps.DeadlinePassed(w.now))
        assert w.state.outcome != "running", {sid: s for sid, s in w.state.subs.items()}
        assert not [n for n in w.notes[calm_from:] if "stalled" in n.detail]
        assert len(w.terminal) == 1
        if w.state.outcome == "done":
            assert w.answer_lineage_consistent()


Pipeline.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
TestPipeline = Pipeline.TestCase
