"""Election, scheduling, job state and accounting: pure functions, no sockets."""

import pytest

from hivemesh.mesh import advert as adv
from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.mesh.view import MeshView
from hivemesh.gateway import election, jobstate
from hivemesh.gateway.accounting import account
from hivemesh.gateway.jobwire import SubtaskReport
from hivemesh.worker.protocol import TaskReply
from hivemesh.gateway.scheduler import Need, place
from hivemesh.planner.plan import Plan, Subtask

NOW = 1_800_000_000.0


def add(view, caps=("general",), slots=(1, 1), queue=0, tps=10.0, roles=("worker",)):
    pid = peer_id_of(generate())
    view.apply(adv.Advert(pid, 1, NOW, NOW + 5, (), (adv.ModelAd("m", caps, 2048, tps),),
                          adv.Capacity(slots[0], slots[1], queue), roles), NOW)
    return pid


def test_every_peer_elects_the_same_gateways_from_the_same_view():
    ids = [peer_id_of(generate()) for _ in range(7)]
    first = election.elect(ids, 3)
    assert len(first) == 3 and set(first) <= set(ids)
    assert election.elect(list(reversed(ids)), 3) == first  # order of discovery does not matter
    # when the first gateway dies, the others keep their places and the 4th moves up
    rest = [i for i in ids if i != first[0]]
    assert election.elect(rest, 3)[:2] == first[1:]


def test_elect_from_view_uses_only_gateway_eligible_peers():
    view = MeshView()
    add(view)
    g = add(view, roles=("worker", "gateway"))
    assert election.elect_from_view(view, 3) == [g]


def test_route_is_stable_per_job_and_spreads_jobs():
    gws = [peer_id_of(generate()) for _ in range(3)]
    assert election.route("job-1", gws) == election.route("job-1", list(reversed(gws)))
    firsts = {election.route(f"job-{i}", gws)[0] for i in range(60)}
    assert firsts == set(gws)


def test_place_spreads_by_load_per_slot_then_speed_and_is_not_limited_by_slots():
    view = MeshView()
    slow = add(view, tps=5.0, slots=(2, 2))
    fast = add(view, tps=50.0, slots=(1, 1))
    s = place([Need("a", "general"), Need("b", "general"), Need("c", "general"), Need("d", "general")], view)
    # stages wait for inputs without a slot: all four are placed; d ties on load (1 per slot) and goes to speed
    assert s.assigned == {"a": fast, "b": slow, "c": slow, "d": fast} and s.waiting == []


def test_place_prefers_peers_that_advertise_free_slots():
    view = MeshView()
    busy = add(view, tps=50.0, slots=(2, 0), queue=3)  # faster, but its slots are taken by others' work
    free = add(view, tps=5.0, slots=(2, 2))
    assert place([Need("a", "general")], view).assigned == {"a": free}
    # a busy peer is still used (the stage waits there for a slot) when it is the only one
    assert place([Need("a", "general")], view, exclude={"a": {free}}).assigned == {"a": busy}
    # our own load comes first: with one stage already on the free peer per slot, the busy peer is next
    assert place([Need("a", "general")], view, load={free: 2}).assigned == {"a": busy}


def test_place_counts_exclusions_and_missing():
    view = MeshView()
    add(view, slots=(1, 1))
    q = add(view, caps=("code",))
    s = place([Need("a", "code"), Need("b", "math")], view, exclude={"a": {q}})
    assert s.waiting == ["a"] and s.missing == {"b": "math"}


PLAN = Plan((Subtask("a", "general", "x", (), 8), Subtask("b", "general", "{{out:a}}", ("a",), 8),
             Subtask("c", "general", "y", (), 8)), "b", "t")


def reply(text="out"):
    return TaskReply(task_id="t", ok=True, text=text, peer_id="P", model="m", prompt_tokens=3,
                     completion_tokens=5, run_s=0.5)


def test_job_state_transitions():
    subs = jobstate.initial(PLAN)
    assert jobstate.ready(PLAN, subs) == ["a", "c"]
    subs["a"] = jobstate.started(subs["a"], "P")
    with pytest.raises(ValueError):
        jobstate.started(subs["a"], "Q")
    assert jobstate.ready(PLAN, subs) == ["c"]
    subs["a"] = jobstate.finished(subs["a"], reply("A"))
    assert jobstate.ready(PLAN, subs) == ["b", "c"] and not jobstate.complete(PLAN, subs)
    subs["b"] = jobstate.finished(jobstate.started(subs["b"], "P"), reply())
    assert jobstate.complete(PLAN, subs)
    assert [r.id for r in jobstate.reports(PLAN, subs)] == ["a", "b"]


def test_accounting_shows_the_saving():
    reports = [SubtaskReport("a", "general", "P", "m", 100, 60, 1.0, 1),
               SubtaskReport("b", "general", "Q", "m", 50, 20, 1.0, 1),
               SubtaskReport("c", "general", "Q", "m", 999, 9, 0.0, 1, cached=True)]
    acc = account("claude-sonnet-4-5", 400, 200, reports, "job", 40_000, 20)
    assert acc.mesh_tokens == 150 and acc.mesh_tokens_by_peer == {"P": 100, "Q": 50}
    assert acc.cloud_tokens == 600 and acc.cloud_usd == pytest.approx((400 * 3 + 200 * 15) / 1e6)
    assert acc.cloud_only_usd > acc.cloud_usd and acc.saved_usd == pytest.approx(acc.cloud_only_usd - acc.cloud_usd)
    offline = account("fallback", 0, 0, reports, "job", 40_000, 20)
    assert offline.cloud_usd == 0 and "priced against" in offline.cloud_model


def test_place_never_uses_banned_peers():
    view = MeshView()
    bad = add(view, tps=100.0)
    good = add(view, tps=1.0)
    assert place([Need("a", "general")], view).assigned == {"a": bad}
    assert place([Need("a", "general")], view, banned={bad}).assigned == {"a": good}
    assert place([Need("a", "general")], view, banned={bad, good}).missing == {"a": "general"}


def test_a_job_event_of_an_unknown_kind_does_not_decode():
    from hivemesh.errors import DecodeError
    from hivemesh.gateway.jobwire import JobEvent
    from hivemesh.mesh import wire

    raw = wire.encode(JobEvent(job_id="j", index=1, kind="subtask_started"))
    assert wire.decode(JobEvent, raw).kind == "subtask_started"
    forged = raw.replace(b"subtask_started", b"subtask_stolen_")
    with pytest.raises(DecodeError, match="unknown job event kind"):
        wire.decode(JobEvent, forged)


def test_a_lease_is_lost_to_another_holder_or_after_a_whole_ttl_without_renewal():
    from hivemesh.gateway.lease import verdict

    assert verdict(True, last_ok=0.0, now=100.0, ttl_s=8.0) == "held"  # renewed: held, however late
    assert verdict(False, last_ok=10.0, now=10.5, ttl_s=8.0) == "lost"  # another gateway holds it
    assert verdict(None, last_ok=10.0, now=17.9, ttl_s=8.0) == "unsure"  # the store failed; it cannot have lapsed
    assert verdict(None, last_ok=10.0, now=18.0, ttl_s=8.0) == "lost"  # it may have lapsed and been taken


def test_a_plan_is_stored_as_a_wire_message():
    from hivemesh.errors import DecodeError
    from hivemesh.gateway.jobwire import JobRecord, StoredPlan
    from hivemesh.mesh import wire

    plan = Plan((Subtask("a", "general", "Q: {{job}}\nA:", (), 8, "completion", ("\n",)),
                 Subtask("b", "math", "{{out:a}}", ("a",), 16)), "b", "rules")
    record = JobRecord(job_id="j", text="t", inputs=(), aggregate=False, created=NOW, status="running",
                       plan=StoredPlan.of(plan))
    assert wire.decode(JobRecord, wire.encode(record)).plan.to_plan() == plan
    bad = wire.encode(record).replace(b"completion", b"completiox")
    with pytest.raises(DecodeError, match="format"):
        wire.decode(JobRecord, bad)


def test_each_job_event_kind_carries_only_its_own_fields():
    from hivemesh.errors import DecodeError
    from hivemesh.gateway.jobwire import JobEvent, JobResult
    from hivemesh.mesh import wire

    result = JobResult(job_id="j", status="done", answer="a", error="", plan=None, subtasks=(), accounting=None,
                       gateway="g", seconds=1.0)
    done = wire.encode(JobEvent(job_id="j", index=4, kind="done", result=result))
    assert wire.decode(JobEvent, done).result == result
    token = JobEvent(job_id="j", index=3, kind="token", subtask_id="a", detail="he", offset=2).to_wire()
    with pytest.raises(DecodeError, match="carries no"):  # a result on a token event
        JobEvent.from_wire({**token, "result": result.to_wire()})
    with pytest.raises(DecodeError, match="carries no"):  # an offset on a stored event
        JobEvent.from_wire({"job_id": "j", "index": 1, "kind": "subtask_started", "offset": 5})
    with pytest.raises(DecodeError, match="result"):  # an end without its result
        JobEvent.from_wire({"job_id": "j", "index": 5, "kind": "failed", "detail": "why"})
