"""Checks on real peers: a gateway that checks outputs, three workers on the
same weights of whom one lies, and two honest ones downstream. Every answer
is built on honest outputs only; the liar is charged and, after its third
caught lie, banned; the honest workers are never charged."""

import trio

from hivemesh.client import submit_via
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.jobwire import JobSubmit, SubtaskRecord
from hivemesh.gateway.store import MemoryStore
from hivemesh.gateway.trust import TrustSettings
from hivemesh.mesh import wire
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from hivemesh.simulations.liars import Lies, LyingModel
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until

PLAN = Plan(
    subtasks=(
        Subtask("a", "summarize", "Summarise: {{input}}", (), 32),
        Subtask("b", "analysis", "Analyse this summary: {{out:a}}", ("a",), 32),
    ),
    answer="b",
    planner="scripted",
)


def registry(cap, lies=None):
    model = SimulatedModel(f"sim-{cap}", echo=True, reply_words=3)
    r = ModelRegistry()
    r.add(LyingModel(model, "subtle", lies, seed=1) if lies is not None else model, (cap,))
    return r


async def liar_and_honest_workers(nursery):
    """A bootstrap, a liar and two honest workers on the summariser's weights,
    two honest analysts: (bootstrap addrs, lies told, the liar, the honest)."""
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    lies = Lies()
    liar = await start_worker(nursery, addr, registry("summarize", lies))
    honest = [await start_worker(nursery, addr, registry("summarize")) for _ in range(2)]
    honest += [await start_worker(nursery, addr, registry("analysis")) for _ in range(2)]
    return addr, lies, liar, honest


async def test_a_liar_is_caught_charged_and_banned_and_no_lie_reaches_an_answer(nursery):
    addr, lies, liar, honest = await liar_and_honest_workers(nursery)
    store = MemoryStore()
    gw = await start_gateway(nursery, peer_config(addr, roles=()), store, ScriptedPlanner([PLAN] * 40),
                             JobSettings(trust=TrustSettings()))
    watcher = await start(nursery, peer_config(addr, advertise=False, roles=()))
    everyone = {w.node.peer_id for w in [liar, *honest]} | {gw.node.peer_id}
    await wait_until(lambda: everyone <= set(watcher.node.view.peers), 60, "the whole mesh")
    workers = {w.node.peer_id: name for name, w in [("liar", liar), *((f"honest{i}", w) for i, w in enumerate(honest))]}
    try:
        await wait_until(lambda: set(workers) <= set(gw.node.view.peers), 60, "the gateway's view")
    except AssertionError:
        raise AssertionError(f"gateway misses {[workers[p] for p in set(workers) - set(gw.node.view.peers)]}, "
                             f"banned {gw.node.banned()}") from None

    results = {}

    async def one(i):  # the watcher submits, as a client node that joined once
        submit = JobSubmit(job_id=f"job-{i}", text=f"job {i}", inputs=(f"Document {i}: bees make honey.",))
        results[i] = await submit_via(watcher.node, submit, 1, None)

    for batch in range(4):  # three at a time: placement spreads a batch's stage a over the three peers, the liar too
        async with trio.open_nursery() as jobs:
            for i in range(batch * 3, batch * 3 + 3):
                jobs.start_soon(one, i)

    assert all(r.status == "done" for r in results.values()), {i: r.error for i, r in results.items()}
    desk = gw.extra["gateway"].checks
    assert lies.made >= 1 and desk.stats["checks_failed"] == lies.made  # every lie caught
    for i in results:
        records = [wire.decode(SubtaskRecord, raw) for raw in store.get_subtasks(f"job-{i}").values()]
        assert {r.id for r in records if r.status == "done"} == {"a", "b"}
        assert not any(r.output_hash in lies.digests for r in records)
        assert records and all(r.peer_id != liar.node.peer_id for r in records if r.status == "done")
        assert f"Document {i}" in results[i].answer  # the echo of a's honest summary of this job's input
    rep = gw.node.reputation
    now = gw.node.config.clock()
    assert rep.score(liar.node.peer_id, now) < 0
    assert all(rep.score(w.node.peer_id, now) == 0 for w in honest)
    if lies.made >= TrustSettings().ban_failures:
        assert liar.node.peer_id in gw.node.banned()
    assert desk.stats["checks_passed"] >= 24  # every honest output checked (all peers are new) and passed

    # a client that asks for tokens gets none of a checked answer stage: its text comes only after the verdict
    events = []
    streamed = await submit_via(watcher.node, JobSubmit(job_id="job-tokens", text="job t", inputs=("Document t.",),
                                                        tokens=True), 1, events.append)
    assert streamed.status == "done" and "Document t" in streamed.answer
    assert [e for e in events if e.kind == "token"] == []
    assert desk.stats["checks_passed"] >= 26
