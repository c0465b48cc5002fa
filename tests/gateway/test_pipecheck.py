"""Checked outputs in the pipeline state machine, step by step: held until
the verdict, used when accepted, recomputed elsewhere when rejected."""

from hivemesh.gateway import pipestate as ps
from tests.gateway.pipeworld import World, plan_of

PEERS = {"p0": frozenset({"summarize"}), "p1": frozenset({"summarize", "analysis", "general"}),
         "p2": frozenset({"analysis", "general"})}


def world(liars=(), check_all=False) -> World:
    w = World(plan_of("chain"), dict(PEERS), set(PEERS), liars=frozenset(liars), check_all=check_all)
    w.feed(ps.Start(0.0))
    return w


def run_until_checks(w: World) -> None:
    while not w.checks and w.runnable():
        w.feed(w.finish(w.runnable()[0]))
        while w.resends:
            event = w.resend(w.resends.pop(0))
            if event is not None:
                w.feed(event)


def test_a_checked_output_goes_nowhere_until_accepted_then_downstream():
    w = world(check_all=True)
    a = w.last_sent["a"]
    assert a.checked and a.downstream == ()
    run_until_checks(w)
    [ask] = w.checks
    assert ask.sid == "a" and w.state.sub("a").status == "running"  # held, not done
    assert not [r for r in w.resends if r.dep == "a"]
    w.checks.clear()
    w.feed(w.verdict(ask))
    assert w.state.sub("a").status == "done"
    assert [r.to.sid for r in w.resends if r.dep == "a"] == ["b"]  # the producer sends it on now


def test_a_rejected_output_is_charged_and_recomputed_on_another_peer():
    w = world(liars={"p0"})
    assert w.last_sent["a"].peer == "p0" and w.last_sent["a"].checked
    run_until_checks(w)
    ask = w.checks.pop()
    w.feed(w.verdict(ask))
    assert ("p0", "wrong_output") in w.penalized
    again = w.last_sent["a"]
    assert again.peer == "p1" and again.attempt == ask.attempt + 1
    for _ in range(20):  # the honest peer's run, unchecked, goes through to the answer
        run_until_checks(w)
        while w.checks:
            w.feed(w.verdict(w.checks.pop()))
    assert w.state.outcome == "done"
    assert not any(h.endswith("!lie") for _, _, h in w.accepted)


def test_a_check_without_verdict_runs_the_stage_again_and_a_late_verdict_is_ignored():
    w = world(check_all=True)
    run_until_checks(w)
    ask = w.checks.pop()
    w.now = ps.Timing().check_wait_s + 1
    w.feed(ps.DeadlinePassed(w.now))
    assert w.last_sent["a"].attempt == ask.attempt + 1
    before = w.state
    w.feed(w.verdict(ask))  # too late: its attempt is gone
    assert w.state.sub("a") == before.sub("a")


def test_unchecked_verdict_uses_the_output():
    w = world(check_all=True)
    run_until_checks(w)
    w.feed(w.verdict(w.checks.pop(), unavailable=True))
    assert w.state.sub("a").status == "done"


def test_the_record_says_whether_an_output_was_checked_and_why_not():
    """An accepted output's record says "passed"; one no checker could run says why it was not checked;
    the result's line for a subtask shows it."""
    from dataclasses import replace

    from hivemesh.gateway.jobstate import reports
    from hivemesh.progress import format_result
    from hivemesh.gateway.jobwire import JobResult

    w = world(check_all=True)
    run_until_checks(w)
    w.feed(w.verdict(w.checks.pop()))
    assert w.state.sub("a").record.check == "passed"
    while w.resends:  # the producer sends a's output on to b
        event = w.resend(w.resends.pop(0))
        if event is not None:
            w.feed(event)
    run_until_checks(w)
    ask = w.checks.pop()
    w.feed(replace(w.verdict(ask, unavailable=True), detail="no checker answered"))
    assert w.state.sub(ask.sid).record.check == "not checked: no checker answered"
    plan = plan_of("chain")
    subs = reports(plan, {s.id: w.state.sub(s.id).record for s in plan.subtasks})
    text = format_result(JobResult("j", "done", "answer", "", None, subs, None, "g", 1.0))
    assert "check passed" in text and "not checked: no checker answered" in text
