"""Admission control and busy answers: pure decisions, no sockets."""

import random

from hivemesh.gateway import admission
from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.admission import Backoff, Gate, decide, job_limit
from hivemesh.gateway.pipeline import step
from hivemesh.mesh import advert as adv
from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.mesh.view import MeshView
from tests.gateway.pipeworld import plan_of

NOW = 1_800_000_000.0


def add(view, slots=2, models=True, roles=("worker",)):
    pid = peer_id_of(generate())
    ads = (adv.ModelAd("m", ("general",), 2048, 10.0),) if models else ()
    view.apply(adv.Advert(pid, 1, NOW, NOW + 5, (), ads, adv.Capacity(slots, slots, 0), roles), NOW)
    return pid


def test_the_limit_follows_the_worker_slots_shared_among_the_gateways():
    view = MeshView()
    for _ in range(6):
        add(view, slots=2)  # 12 worker slots
    add(view, slots=0, models=False, roles=("gateway",))  # another gateway: no slots of its own
    gate = Gate()
    assert gate.limit(view, "me") == 12  # 2 jobs per slot, half of them for each of the 2 gateways
    add(view, slots=4)
    assert gate.limit(view, "me") == 16
    assert Gate(configured=3).limit(view, "me") == 3  # --max-jobs wins
    assert Gate().limit(MeshView(), "me") == admission.MIN_JOBS  # a view still forming takes some work


def test_past_the_limit_a_new_job_is_answered_busy_with_a_retry_after():
    assert decide(inflight=11, limit=12, job_s=6.0) is None
    busy = decide(inflight=12, limit=12, job_s=6.0)
    assert busy is not None and "12 jobs in flight" in busy.reason
    assert busy.retry_after_s == 0.5  # one of 12 six-second jobs ends every half second
    assert decide(14, 12, 6.0).retry_after_s == 1.5  # three ends to wait for
    assert decide(12, 12, 0.01).retry_after_s == admission.RETRY_MIN_S
    assert decide(500, 4, 60.0).retry_after_s == admission.RETRY_MAX_S


def test_a_gate_counts_its_jobs_and_learns_how_long_they_take():
    view = MeshView()
    add(view, slots=1)  # limit: max(MIN_JOBS, 2) = 4
    gate = Gate()
    for i in range(4):
        assert gate.check(f"j{i}", view, "me") is None
        gate.started(f"j{i}")
    assert gate.check("j0", view, "me") is None  # a job it runs is never turned away
    busy = gate.check("new", view, "me")
    assert busy is not None and busy.retry_after_s == admission.JOB_S_PRIOR / 4
    gate.ended("j0", seconds=8.0)
    assert gate.job_s == 8.0 and gate.check("new", view, "me") is None
    gate.started("new")
    gate.ended("j1", seconds=3.0)
    assert gate.job_s == 7.0  # a running mean
    gate.ended("gone")  # a job it let go (taken over elsewhere): no time learnt, nothing breaks
    assert gate.job_s == 7.0 and len(gate.running) == 3


def test_the_client_backs_off_exponentially_with_jitter_never_before_the_retry_after():
    b = Backoff(cap_s=8.0)
    rng = random.Random(1)
    for rounds in range(1, 10):
        for _ in range(50):
            delay = b.delay(0.5, rounds, rng.random())
            assert 0.5 <= delay <= max(8.0, 0.75)
    assert b.delay(0.5, 1, 0.0) == 0.5 and b.delay(0.5, 4, 0.99) > 3.9  # grows with the rounds
    draws = {round(b.delay(0.5, 5, rng.random()), 2) for _ in range(20)}
    assert len(draws) > 10  # clients turned away together come back apart
    assert b.delay(20.0, 1, 0.0) == 20.0  # a long retry-after is kept, past the cap


def chain():
    state, _ = step(ps.initial(plan_of("chain"), {}), ps.Start(0.0))
    state, actions = step(state, ps.Placed(0.0, {"a": "P", "b": "Q", "c": "R"}))
    return state


def test_a_busy_worker_is_neither_a_strike_nor_an_attempt_spent():
    state = chain()
    for attempt in range(1, 3 * ps.MAX_ATTEMPTS):
        peer = state.sub("a").peer
        state, actions = step(state, ps.StageRefused(1.0, "a", attempt, peer, reason="busy: full", busy=True))
        assert any(isinstance(a, ps.Place) for a in actions)  # placed elsewhere
        state, actions = step(state, ps.Placed(1.0, {"a": f"P{attempt}"}))
        assert state.outcome == "running", state.reason
    assert state.sub("a").strikes == 0 and state.sub("a").busy == 3 * ps.MAX_ATTEMPTS - 1
    # a peer that is unreachable (not busy) still spends attempts: those stay bounded
    for attempt in range(3 * ps.MAX_ATTEMPTS, 5 * ps.MAX_ATTEMPTS):
        state, _ = step(state, ps.StageRefused(1.0, "a", attempt, state.sub("a").peer, reason="unreachable"))
        state, _ = step(state, ps.Placed(1.0, {"a": f"X{attempt}"}))
        if state.outcome == "failed":
            break
    assert state.outcome == "failed" and "placed 16 times" in state.reason


def test_a_mesh_that_stays_full_fails_the_job_in_the_end_and_says_so():
    state = chain()
    for attempt in range(1, ps.MAX_BUSY + 1):
        state, _ = step(state, ps.StageRefused(1.0, "a", attempt, state.sub("a").peer, reason="busy: full", busy=True))
        if state.outcome != "running":
            break
        state, _ = step(state, ps.Placed(1.0, {"a": f"P{attempt}"}))
    assert attempt == ps.MAX_BUSY and state.outcome == "failed"
    assert state.reason == f"subtask a was refused by busy peers {ps.MAX_BUSY} times: the mesh stayed full"


def test_when_every_capable_peer_is_busy_the_subtask_waits_and_tries_them_again():
    state = chain()
    state, _ = step(state, ps.StageRefused(1.0, "a", 1, "P", reason="busy: full", busy=True))
    state, actions = step(state, ps.Placed(1.0, waiting=("a",)))  # only the busy peer offers it
    assert state.sub("a").parked and any(isinstance(a, ps.Park) for a in actions)
    state, actions = step(state, ps.DeadlinePassed(1.0 + state.timing.retry_backoff_s))
    place = [a for a in actions if isinstance(a, ps.Place)]
    assert place and place[0].exclude["a"] == frozenset()  # the busy peer gets another try
    state, _ = step(state, ps.Placed(4.0, {"a": "P"}))
    assert state.sub("a").status == "running" and state.outcome == "running"


def test_hivemesh_submit_shows_each_busy_answer_and_each_wait(capsys):
    from hivemesh import progress
    from hivemesh.gateway.jobwire import JobEvent

    progress.print_event(JobEvent(job_id="j", index=0, kind="busy", peer_id="12D3KooWabcdefXYZ123",
                                  detail="gateway busy: 12 jobs in flight here (limit 12)", retry_after_s=0.5))
    progress.print_event(JobEvent(job_id="j", index=0, kind="busy", detail="2 gateway(s) busy; trying again in 1.3s",
                                  retry_after_s=1.3))
    err = capsys.readouterr().err.splitlines()
    assert "gateway on …XYZ123 busy (gateway busy: 12 jobs in flight here (limit 12)); trying another" in err[0]
    assert "waiting: 2 gateway(s) busy; trying again in 1.3s" in err[1]


def test_a_busy_answer_is_typed_and_checked_on_the_wire():
    import msgpack
    import pytest

    from hivemesh.errors import DecodeError
    from hivemesh.gateway.jobwire import JobEvent
    from hivemesh.mesh import wire

    busy = JobEvent(job_id="j", index=0, kind="busy", detail="gateway busy", retry_after_s=0.75)
    assert wire.decode(JobEvent, wire.encode(busy)) == busy and not busy.terminal
    for bad in (-1.0, float("nan"), 1e9):
        raw = msgpack.packb({**busy.to_wire(), "retry_after_s": bad})
        with pytest.raises(DecodeError):
            wire.decode(JobEvent, raw)


def test_a_job_with_a_deadline_is_not_taken_while_jobs_here_take_longer():
    assert decide(inflight=3, limit=12, job_s=6.0, deadline_s=10.0) is None  # they end in time
    busy = decide(inflight=3, limit=12, job_s=6.0, deadline_s=4.0)
    assert busy is not None and "deadline of 4.0s" in busy.reason and "take 6.0s" in busy.reason
    assert busy.retry_after_s == 2.0  # one of the 3 six-second jobs here ends every 2 s
    assert decide(inflight=0, limit=12, job_s=60.0, deadline_s=4.0) is None  # nothing ahead of it: taken
    assert decide(inflight=3, limit=12, job_s=60.0) is None  # no deadline: the limit alone decides
    assert "jobs in flight" in decide(12, 12, 1.0, deadline_s=30.0).reason  # and past it, busy as ever


def test_a_gate_holds_a_deadline_only_against_jobs_it_has_timed():
    view = MeshView()
    add(view, slots=4)
    gate = Gate()
    gate.started("a")
    assert gate.check("b", view, "me", deadline_s=0.5) is None  # no job has ended here: no mean to hold it to
    gate.ended("a", seconds=3.0)
    gate.started("c")
    busy = gate.check("d", view, "me", deadline_s=0.5)
    assert busy is not None and "deadline" in busy.reason
    assert gate.check("d", view, "me", deadline_s=5.0) is None
    assert gate.check("c", view, "me", deadline_s=0.5) is None  # a job it runs already is never refused
