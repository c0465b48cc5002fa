"""The trust record the gateways share, on real peers and a real Redis: a
worker trusted through gateway A is trusted by gateway B (B checks none of its
outputs), and a liar banned by A is never placed by B."""

from contextlib import aclosing
from dataclasses import replace

import trio

from hivemesh.client import _events
from hivemesh.errors import MeshError
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.jobwire import JobResult, JobSubmit, SubtaskRecord
from hivemesh.gateway.store.redis_store import RedisStore
from hivemesh.gateway.trust import TrustSettings
from hivemesh.mesh import wire
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.peer.inprocess import start_gateway
from tests.gateway.test_checks_live import PLAN, liar_and_honest_workers
from tests.meshutil import peer_config, start, wait_until

# trusted after 3 passes; banned after 2 confirmed failures; trusted peers not sampled (B's checks are all "new" ones)
TRUST = TrustSettings(new_peer_checks=3, trusted_share=0.0, ban_failures=2)


async def run_on(node, gateway: str, job_id: str) -> JobResult:
    """One job on this very gateway (no election): its result. A stream that
    breaks under load is re-attached, as the client does (``submit_via``)."""
    submit = JobSubmit(job_id=job_id, text=f"job {job_id}", inputs=(f"Document {job_id}: bees make honey.",))
    errors = []
    for _ in range(5):
        try:
            async with aclosing(_events(node, gateway, submit)) as events:
                async for event in events:
                    if event.terminal:
                        assert event.result is not None, event
                        return event.result
        except MeshError as exc:
            errors.append(str(exc))
            submit = replace(submit, attach_only=True)
            await trio.sleep(0.5)
    raise AssertionError(f"no result for {job_id}: {errors}")


async def test_trust_and_bans_earned_at_one_gateway_hold_at_the_other(nursery, redis_server_url):
    addr, lies, liar, honest = await liar_and_honest_workers(nursery)
    stores = [RedisStore.from_url(redis_server_url) for _ in range(2)]
    a, b = [await start_gateway(nursery, peer_config(addr, roles=()), s, ScriptedPlanner([PLAN] * 40),
                                JobSettings(trust=TRUST)) for s in stores]
    client = await start(nursery, peer_config(addr, advertise=False, roles=()))
    workers = {w.node.peer_id for w in [liar, *honest]}
    for node in (a.node, b.node, client.node):
        await wait_until(lambda: workers | {a.node.peer_id, b.node.peer_id} <= set(node.view.peers) | {node.peer_id},
                         60, "the whole mesh")
    desk_a, desk_b = a.extra["gateway"].checks, b.extra["gateway"].checks

    def a_is_done() -> bool:  # the liar banned, every honest worker trusted
        return liar.node.peer_id in a.node.banned() and not any(desk_a.book.is_new(w.node.peer_id) for w in honest)

    done = 0
    while not a_is_done() and done < 36:
        async with trio.open_nursery() as jobs:  # three at a time: stage a spreads over the three summarisers
            for i in range(done, done + 3):
                jobs.start_soon(run_on, client.node, a.node.peer_id, f"a-{i}")
        done += 3
    assert a_is_done(), (done, lies.made, desk_a.stats, desk_a.book.records)
    assert desk_a.stats["checks_failed"] == lies.made >= TRUST.ban_failures

    # B hears both from the shared record within its refresh: trusts the honest workers that A trusted, bans the liar
    trusted_at_a = {w.node.peer_id for w in honest}
    await wait_until(lambda: liar.node.peer_id in b.node.banned(), 10, "B banning the liar A banned")
    await wait_until(lambda: not any(desk_b.book.is_new(p) for p in trusted_at_a), 10, "B trusting A's trusted")
    assert desk_b.produced[liar.node.peer_id] == 0 and desk_b.stats["checks_run"] == 0  # B never met them

    results = []
    for i in range(6):
        results.append(await run_on(client.node, b.node.peer_id, f"b-{i}"))
    assert all(r.status == "done" for r in results), [r.error for r in results]
    for i in range(6):
        records = [wire.decode(SubtaskRecord, raw) for raw in stores[1].get_subtasks(f"b-{i}").values()]
        assert {r.id for r in records if r.status == "done"} == {"a", "b"}
        assert all(r.peer_id != liar.node.peer_id for r in records)  # never placed on the liar
    assert desk_b.produced[liar.node.peer_id] == 0
    # every stage B placed went to a worker trusted through A: B checked none (without the shared record: all 12)
    assert desk_b.stats["stages_new"] == 0 and desk_b.stats["stages_trusted"] >= 12, desk_b.stats
    assert desk_b.stats["checks_run"] == 0
