"""The pipeline state machine, step by step, without sockets."""

from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.pipeline import step
from hivemesh.worker.protocol import TaskReply
from tests.gateway.pipeworld import World, plan_of


def run(state, *events):
    actions = []
    for event in events:
        state, more = step(state, event)
        actions += more
    return state, actions


def placed(now, **assigned):
    return ps.Placed(now, assigned)


def done(sid, attempt, peer, used=None, delivered=()):
    reply = TaskReply(task_id=sid, ok=True, text="", peer_id=peer, model="m")
    return ps.StageDone(1.0, sid, attempt, peer, reply=reply, output_hash=f"{sid}{attempt}", used=used or {},
                        delivered=frozenset(delivered))


def chain():
    state, actions = run(ps.initial(plan_of("chain"), {}), ps.Start(0.0), placed(0.0, a="P", b="Q", c="R"))
    assert [a.sid for a in actions if isinstance(a, ps.SendAssignment)] == ["a", "b", "c"]
    return state


def test_only_failures_of_the_subtask_itself_are_strikes():
    state = chain()  # a -> b -> c
    # b's peer died while b waited for a's output: not b's fault
    state, _ = run(state, ps.PeerGone(1.0, "Q"), placed(1.0, b="Q2"))
    assert state.sub("b").strikes == 0 and state.sub("b").attempt == 2 and state.sub("b").exclude == {"Q"}
    state, actions = run(state, done("a", 1, "P", delivered=[("b", "Q2", 2)]))
    assert not any(isinstance(a, ps.AskResend) for a in actions)  # delivered to b's current attempt
    # b could run now: a failure counts, unless b never reached its peer
    state, _ = run(state, ps.StageRefused(2.0, "b", 2, "Q2", reason="busy"), placed(2.0, b="Q3"))
    assert state.sub("b").strikes == 0
    state, _ = run(state, ps.StageFailed(3.0, "b", 3, "Q3", reason="model error"), placed(3.0, b="Q4"))
    assert state.sub("b").strikes == 1


def test_a_subtask_that_keeps_failing_fails_the_job_once():
    state = chain()
    state, _ = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))
    actions = []
    for attempt in range(1, ps.MAX_STRIKES + 1):
        state, more = run(state, ps.StageFailed(float(attempt), "b", attempt, state.sub("b").peer, reason="boom"),
                          placed(float(attempt), b=f"Q{attempt}"))
        actions += more
    assert state.outcome == "failed" and "subtask b failed 4 times (last: boom)" == state.reason
    assert sum(isinstance(a, ps.Fail) for a in actions) == 1
    assert run(state, ps.DeadlinePassed(99.0))[1] == []  # ended: nothing more


def test_placements_are_bounded():
    state = chain()
    for attempt in range(1, ps.MAX_ATTEMPTS):
        state, _ = run(state, ps.StageRefused(1.0, "a", attempt, state.sub("a").peer, reason="busy"),
                       placed(1.0, a=f"P{attempt}"))
    assert state.sub("a").attempt == ps.MAX_ATTEMPTS and state.outcome == "running"
    state, actions = run(state, ps.StageRefused(1.0, "a", ps.MAX_ATTEMPTS, state.sub("a").peer, reason="busy"),
                         placed(1.0, a="Pz"))
    assert state.outcome == "failed" and "placed 16 times" in state.reason


def test_stale_and_duplicate_reports_are_ignored():
    state = chain()
    state, _ = run(state, ps.StreamBroke(1.0, "a", 1, "P", reason="reset"), placed(1.0, a="P2"))
    state, actions = run(state, done("a", 1, "P"))  # the old attempt finished after all
    assert state.sub("a").status == "running" and [type(a) for a in actions] == [ps.Ignored]
    state, _ = run(state, done("a", 2, "P2", delivered=[("b", "Q", 1)]))
    state, actions = run(state, done("a", 2, "P2"))  # the same report twice
    assert [type(a) for a in actions] == [ps.Ignored]


def test_a_report_that_outruns_its_inputs_report_waits_for_it():
    state = chain()
    state, _ = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))
    state, actions = run(state, done("c", 1, "R", used={"b": "b1"}))  # b's own report is still on its way
    assert state.sub("c").status == "running" and state.sub("c").held is not None and not actions
    state, actions = run(state, done("b", 1, "Q", used={"a": "a1"}, delivered=[("c", "R", 1)]))
    assert state.outcome == "done" and isinstance(actions[-1], ps.Finish)


def test_a_report_built_on_a_replaced_output_is_not_used():
    state = chain()
    state, _ = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))
    # a's output was lost and a ran again with another output; b had the old one
    state, _ = run(state, ps.OutputLost(1.0, "a", 1, "b", 1), placed(1.0, a="P2"))
    state, _ = run(state, done("a", 2, "P2", delivered=[("b", "Q", 1)]))
    state, actions = run(state, done("b", 1, "Q", used={"a": "a1"}))
    assert state.sub("b").status == "pending" and state.sub("b").strikes == 0
    assert any(isinstance(a, ps.Place) and a.sids == ("b",) for a in actions)


def test_an_output_sent_to_an_older_attempt_on_the_same_peer_is_sent_again():
    state = chain()
    state, _ = run(state, ps.StageRefused(1.0, "b", 1, "Q", reason="busy"), placed(1.0, b="Q"))  # b again on Q
    state, actions = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))  # delivered to attempt 1
    assert [a.to for a in actions if isinstance(a, ps.AskResend)] == [ps.Route("b", "Q", 2)]


def test_a_hand_off_not_taken_after_its_report_is_sent_again():
    state = chain()  # workers report once their output is written downstream, before the ack
    state, actions = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))
    assert not any(isinstance(a, ps.AskResend) for a in actions)
    state, actions = run(state, ps.HandoffFailed(2.0, "a", 1, "P", routes=frozenset({("b", "Q", 1)})))
    assert [(a.dep, a.producer, a.to) for a in actions if isinstance(a, ps.AskResend)] == \
        [("a", "P", ps.Route("b", "Q", 1))]
    # b moved on since: its new attempt was fed when placed, the old route is nothing to resend
    state, _ = run(state, ps.StreamBroke(3.0, "b", 1, "Q", reason="reset"), placed(3.0, b="Q2"))
    state, actions = run(state, ps.HandoffFailed(4.0, "a", 1, "P", routes=frozenset({("b", "Q", 1)})))
    assert not any(isinstance(a, ps.AskResend) for a in actions)


def test_a_held_report_learns_of_a_hand_off_not_taken():
    state = chain()
    state, _ = run(state, done("b", 1, "Q", used={"a": "a1"}, delivered=[("c", "R", 1)]))  # before a's: held
    state, actions = run(state, ps.HandoffFailed(2.0, "b", 1, "Q", routes=frozenset({("c", "R", 1)})))
    assert state.sub("b").held is not None and not state.sub("b").held.delivered and not actions
    state, _ = run(state, done("b", 1, "Q", used={"a": "a1"}, delivered=[("c", "R", 1)]))  # the same report again
    state, actions = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))  # now b's report is taken
    assert state.sub("b").status == "done"
    assert [a.to for a in actions if isinstance(a, ps.AskResend)] == [ps.Route("c", "R", 1)]


def settle(w: World) -> None:
    """Every peer back, every stage run, resends answered, time passing: the
    job must end, without a stage left to stall on an input that never came."""
    for peer in sorted(set(w.peers) - w.alive):
        w.revive(peer)
        w.feed(ps.PeerJoined(w.now, peer, w.peers[peer]))
    for _ in range(200):
        while w.resends:
            event = w.resend(w.resends.pop(0))
            if event is not None:
                w.feed(event)
        if w.state.outcome != "running":
            break
        if w.runnable():
            w.feed(w.finish(w.runnable()[0]))
        else:
            w.now += 1.0
            w.feed(ps.DeadlinePassed(w.now))
    assert w.state.outcome == "done" and not [n for n in w.notes if "stalled" in n.detail]


def test_a_hand_off_lost_after_its_report_is_repaired_without_a_stall():
    for dies in ("p0", "p1"):  # the producer (its stream breaks), or the consumer (it never acks)
        w = World(plan_of("chain"), {"p0": frozenset({"summarize"}), "p1": frozenset({"analysis"}),
                                     "p2": frozenset({"general"})}, {"p0", "p1", "p2"})
        w.feed(ps.Start(0.0))
        w.feed(w.finish(w.runnable()[0], land=False))  # a's report, its copy to b still on the way
        assert w.state.sub("a").status == "done" and not w.resends
        w.kill(dies)  # unnoticed: no PeerGone
        w.land_handoff(w.handoffs[0])
        assert w.resends or w.state.sub("a").status != "done"
        settle(w)


def test_no_usable_peer_parks_with_a_deadline():
    state, actions = run(ps.initial(plan_of("chain"), {}), ps.Start(0.0),
                         ps.Placed(0.0, {"a": "P", "c": "R"}, missing={"b": "analysis"}))
    assert state.sub("b").parked == "analysis" and state.sub("b").park_deadline == 30.0
    state, actions = run(state, ps.PeerJoined(5.0, "Q", frozenset({"analysis"})))
    assert any(isinstance(a, ps.Place) and a.sids == ("b",) for a in actions)
    state, _ = run(state, ps.Placed(5.0, missing={"b": "analysis"}))  # it left again
    state, actions = run(state, ps.DeadlinePassed(30.0))
    assert state.outcome == "failed" and "'analysis' came back within 30s" in state.reason


def test_a_resumed_job_waits_for_a_capability_its_new_gateway_has_not_seen_yet():
    from hivemesh.gateway.jobwire import SubtaskRecord

    records = {"a": SubtaskRecord("a", "done", "P", attempts=1, output_hash="a1"),
               "b": SubtaskRecord("b", "running", "Q", attempts=1)}
    missing = ps.Placed(0.0, {"c": "R"}, missing={"b": "analysis"}, unknown=frozenset({"analysis"}), initial=True)
    state, _ = run(ps.initial(plan_of("chain"), records), ps.Start(0.0), missing)
    assert state.outcome == "running" and state.sub("b").parked == "analysis"  # a fresh gateway's view is forming
    fresh, _ = run(ps.initial(plan_of("chain"), {}), ps.Start(0.0), missing)
    assert fresh.outcome == "failed" and "no peer in the mesh offers capability 'analysis'" in fresh.reason


def test_peers_that_leave_the_mesh_do_not_fail_a_job_while_others_remain():
    # seen: 100 worker kills failed jobs "subtask s0 failed 4 times (last: peer left the mesh)"
    state = chain()
    for attempt in range(1, ps.MAX_STRIKES + 2):
        peer = state.sub("a").peer
        state, _ = run(state, ps.PeerGone(float(attempt), peer), placed(float(attempt), a=f"P{attempt}"))
    assert state.outcome == "running" and state.sub("a").strikes == 0
    assert state.sub("a").attempt == ps.MAX_STRIKES + 2
