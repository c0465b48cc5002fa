"""A client whose gateway dies keeps re-attaching until another gateway runs the job."""

import trio

from hivemesh.client import submit_via
from hivemesh.gateway.jobwire import JobSubmit
from hivemesh.gateway.store import RedisStore
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from tests.gateway.test_pipeline_recovery import THREE, observer, registry
from tests.meshutil import peer_config, start_bootstrap, start_worker, wait_until


async def three_stage_mesh(nursery, redis_url, analysis_s):
    """A worker per capability of ``THREE`` (its middle stage takes ``analysis_s``),
    one gateway, a client node that sees them all: the bootstrap's addresses,
    the gateway, the client."""
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    for cap in ("summarize", "analysis", "general"):
        await start_worker(nursery, addr, registry(cap, latency=analysis_s if cap == "analysis" else 0))
    gw = await start_gateway(nursery, peer_config(addr, roles=()), RedisStore.from_url(redis_url),
                             ScriptedPlanner([THREE]))
    obs = await observer(nursery, addr)
    await wait_until(lambda: len(obs.node.view.peers) == 4, 15, "the mesh")
    return addr, gw, obs


async def test_no_gateway_for_a_while_the_client_waits_and_gets_its_answer(nursery, redis_server_url):
    """The job's only gateway dies mid-job; a new one comes up 8 s later and
    resumes the job from Redis. The client must still be there to hear it (it
    used to give up after a few quick tries: the job was lost to the user)."""
    addr, first, obs = await three_stage_mesh(nursery, redis_server_url, analysis_s=2.0)
    events = []

    def on_event(e):
        events.append(e)
        if e.kind == "subtask_finished" and e.subtask_id == "a":
            first.stop()
            nursery.start_soon(second_gateway_later)

    async def second_gateway_later():
        await trio.sleep(8.0)
        await start_gateway(nursery, peer_config(addr, roles=()), RedisStore.from_url(redis_server_url),
                            ScriptedPlanner([THREE]))

    with trio.fail_after(60):
        result = await submit_via(obs.node, JobSubmit(job_id="reattach", text="go", inputs=("x",)), 1, on_event)
    assert result.status == "done", result.error
    assert result.gateway != first.node.peer_id
    assert any(e.kind == "resumed" for e in events)
    assert sum(e.terminal for e in events) == 1
    assert [e.index for e in events] == list(range(len(events)))  # every event once, in order


async def test_a_client_whose_view_has_no_gateway_yet_waits_for_one(nursery, redis_server_url):
    """Adverts flap under load and churn: a client that submits while its view
    holds no gateway waits for one instead of failing the job (it used to give
    up after four looks at its view, two seconds here)."""
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    for cap in ("summarize", "analysis", "general"):
        await start_worker(nursery, addr, registry(cap))
    obs = await observer(nursery, addr)
    await wait_until(lambda: len(obs.node.view.peers) == 3, 15, "the workers")

    async def gateway_later():
        await trio.sleep(5.0)
        await start_gateway(nursery, peer_config(addr, roles=()), RedisStore.from_url(redis_server_url),
                            ScriptedPlanner([THREE]))

    nursery.start_soon(gateway_later)
    with trio.fail_after(40):
        result = await submit_via(obs.node, JobSubmit(job_id="late-gw", text="go", inputs=("x",)), 1, None)
    assert result.status == "done", result.error
    assert "[sim-general" in result.answer


async def test_a_client_that_stops_hearing_its_gateways_adverts_keeps_its_stream_while_it_answers(
        nursery, redis_server_url, monkeypatch):
    """On a slow mesh a gateway's adverts reach a client late, and the gateway
    leaves the client's view while it runs the client's job. The gateway still
    answers pings, so the client keeps reading the job's stream and gets the
    answer there. Before, it let go of the stream at once, found no gateway in
    its view to re-attach to, and never heard the job's end (seen: jobs done
    on their gateway, counted lost)."""
    from hivemesh.mesh import advert as adv
    from hivemesh.mesh import liveness
    from hivemesh.mesh.view import ViewEvent

    monkeypatch.setattr(liveness, "KEEP_PERIODS", 1000)  # the node keeps the live gateway's connection meanwhile
    _, gw, obs = await three_stage_mesh(nursery, redis_server_url, analysis_s=5.0)
    view, offer, deaf = obs.node.view, obs.node.view.offer, []

    def late_gateway(raw, now):  # from the first event on, the gateway's adverts do not reach the client
        try:
            if deaf and adv.verify(raw, now).peer_id == gw.node.peer_id:
                return ViewEvent("rejected", gw.node.peer_id, "late")
        except adv.AdvertRejected:
            pass
        return offer(raw, now)

    view.offer = late_gateway
    gone_before_the_end = []

    def on_event(e):
        deaf.append(e)
        if e.terminal:
            gone_before_the_end.append(gw.node.peer_id not in view.peers)

    with trio.fail_after(40):
        result = await submit_via(obs.node, JobSubmit(job_id="late-gateway", text="go", inputs=("x",)), 1, on_event)
    assert result.status == "done", result.error
    assert gone_before_the_end == [True]  # the answer came while the gateway was out of the client's view
    assert [e.index for e in deaf] == list(range(len(deaf)))  # one stream: every event once, in order
