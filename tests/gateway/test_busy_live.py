"""Busy answers on real peers: a gateway past its job limit says busy at once,
the client waits and comes back, and every job still ends done."""

import msgpack
import pytest
import trio

from hivemesh.client import submit_via
from hivemesh.errors import GatewayBusy
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.jobwire import JobRecord, JobSubmit
from hivemesh.mesh import wire
from hivemesh.gateway.store import RedisStore
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until

ONE = Plan((Subtask("a", "general", "Do {{job}}", (), 16),), "a", "scripted")


async def busy_mesh(nursery, redis_url, max_jobs, latency_s=0.6):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    registry = ModelRegistry()
    registry.add(SimulatedModel("sim-slow", latency_s=latency_s, reply_words=2), ("general",))
    worker = await start_worker(nursery, addr, registry, slots=2)
    gw = await start_gateway(nursery, peer_config(addr, roles=()), RedisStore.from_url(redis_url),
                             ScriptedPlanner([ONE]), JobSettings(max_jobs=max_jobs))
    client = await start(nursery, peer_config(addr, advertise=False, roles=()))
    await wait_until(lambda: {worker.node.peer_id, gw.node.peer_id} <= set(client.node.view.peers)
                     and gw.node.peer_id in [e.peer_id for e in client.node.view.gateway_eligible()], 15, "the mesh")
    return client.node, gw.extra["gateway"]


async def test_past_its_limit_a_gateway_answers_busy_and_the_client_waits_for_room(nursery, redis_server_url):
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=1)
    events: dict[str, list] = {f"j{i}": [] for i in range(3)}
    results, peak = {}, []

    async def one(jid):
        submit = JobSubmit(job_id=jid, text=f"job {jid}")
        results[jid] = await submit_via(node, submit, 1, events[jid].append, busy_until=trio.current_time() + 30)

    async def watch():
        while len(results) < 3:
            peak.append(len(gateway.gate.running))
            await trio.sleep(0.02)

    async with trio.open_nursery() as jobs:
        jobs.start_soon(watch)
        for jid in events:
            jobs.start_soon(one, jid)
    assert {jid: r.status for jid, r in results.items()} == dict.fromkeys(events, "done")
    assert max(peak) == 1  # never more than its limit in flight
    busy = [e for evs in events.values() for e in evs if e.kind == "busy" and e.peer_id]
    assert len(busy) >= 2 and gateway.stats["busy"] == len(busy)
    assert all(e.retry_after_s > 0 and e.peer_id == gateway.node.peer_id for e in busy)
    waits = [e for evs in events.values() for e in evs if e.kind == "busy" and not e.peer_id]
    assert waits and all("trying again in" in e.detail for e in waits)  # what `hivemesh submit` shows
    for evs in events.values():  # a busy answer is not a job event: the job's own events start at 0
        assert [e.index for e in evs if e.kind != "busy"] == list(range(len([e for e in evs if e.kind != "busy"])))


async def test_a_client_whose_deadline_comes_first_gives_up_busy_and_no_job_is_made(nursery, redis_server_url):
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=1)
    async with trio.open_nursery() as jobs:
        jobs.start_soon(submit_via, node, JobSubmit(job_id="long", text="runs"), 1, None)
        await wait_until(lambda: "long" in gateway.gate.running, 10, "the first job running")
        started = trio.current_time()
        with pytest.raises(GatewayBusy) as caught:
            await submit_via(node, JobSubmit(job_id="late", text="no room"), 1, None,
                             busy_until=trio.current_time() + 0.2)
        assert trio.current_time() - started < 3 and "busy" in str(caught.value)
    assert gateway.store.get_job("late") is None  # turned away before anything was stored
    assert gateway.store.get_job("long") is not None


async def test_one_client_node_with_more_jobs_than_a_gateway_takes_streams_from_one_peer(
        nursery, redis_server_url, monkeypatch):
    from hivemesh import client
    from hivemesh.mesh import node as mesh_node

    monkeypatch.setattr(mesh_node, "MAX_STREAMS_PER_PEER", 4)  # past it, the gateway resets new streams
    monkeypatch.setattr(client, "STREAMS_PER_GATEWAY", 2)
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=2)
    results = {}

    async def one(jid):
        results[jid] = await submit_via(node, JobSubmit(job_id=jid, text=f"job {jid}"), 1, None,
                                        busy_until=trio.current_time() + 60)

    async with trio.open_nursery() as jobs:
        for i in range(12):
            jobs.start_soon(one, f"many-{i}")
    assert [r.status for r in results.values()] == ["done"] * 12
    assert gateway.node.refused["stream_cap"] == 0  # the client waited its turn instead


async def test_a_job_waiting_for_one_of_its_clients_streams_gives_up_busy_at_its_deadline(
        nursery, redis_server_url, monkeypatch):
    from hivemesh import client

    monkeypatch.setattr(client, "STREAMS_PER_GATEWAY", 1)  # the client's one stream is the first job's
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=8)
    async with trio.open_nursery() as jobs:
        jobs.start_soon(submit_via, node, JobSubmit(job_id="first", text="runs"), 1, None)
        await wait_until(lambda: "first" in gateway.gate.running, 10, "the first job running")
        started = trio.current_time()
        with pytest.raises(GatewayBusy) as caught:  # before: it waited for the stream with no end
            await submit_via(node, JobSubmit(job_id="queued", text="waits here"), 1, None,
                             busy_until=trio.current_time() + 0.2)
        assert trio.current_time() - started < 0.5 and "stayed in use" in str(caught.value)
        later = await submit_via(node, JobSubmit(job_id="later", text="its turn"), 1, None,
                                 busy_until=trio.current_time() + 30)  # waits its turn, within its deadline
    assert later.status == "done" and gateway.stats["busy"] == 0  # the gateway was never asked past its limit
    assert gateway.store.get_job("queued") is None


async def test_a_job_still_running_at_its_deadline_ends_failed_and_says_why(nursery, redis_server_url):
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=4, latency_s=20.0)
    events = []
    started = trio.current_time()
    # before: the job ran on after its client had stopped waiting, and a harness counted it lost
    result = await submit_via(node, JobSubmit(job_id="slow", text="takes 20 s", deadline_s=1.0), 1, events.append)
    assert result.status == "failed" and result.error.startswith("deadline") and trio.current_time() - started < 15
    assert events[-1].kind == "failed" and events[-1].result == result
    await wait_until(lambda: "slow" not in gateway.gate.running, 5, "the job let go")  # its end is told first
    assert gateway.stats["deadline"] == 1
    record = wire.decode(JobRecord, gateway.store.get_job("slow"))
    assert record.status == "failed" and record.deadline - record.created == pytest.approx(1.0, abs=0.01)


async def test_a_gateway_whose_jobs_take_longer_than_a_deadline_answers_busy(nursery, redis_server_url):
    node, gateway = await busy_mesh(nursery, redis_server_url, max_jobs=4, latency_s=0.6)
    first = await submit_via(node, JobSubmit(job_id="timed", text="times the jobs here"), 1, None)
    await wait_until(lambda: gateway.gate.job_s is not None, 5, "the job timed")  # its end is told first
    assert first.status == "done" and gateway.gate.job_s >= 0.6
    async with trio.open_nursery() as jobs:
        jobs.start_soon(submit_via, node, JobSubmit(job_id="running", text="one in flight"), 1, None)
        await wait_until(lambda: "running" in gateway.gate.running, 10, "a job running")
        with pytest.raises(GatewayBusy) as caught:  # slots are free, but it would not end in time
            await submit_via(node, JobSubmit(job_id="hurried", text="needs 0.3 s", deadline_s=0.3), 1, None,
                             busy_until=trio.current_time() + 0.3)
        assert "deadline" in str(caught.value)
        fits = await submit_via(node, JobSubmit(job_id="patient", text="has 30 s", deadline_s=30.0), 1, None)
    assert fits.status == "done" and gateway.store.get_job("hurried") is None


def test_a_deadline_must_be_a_finite_number_of_seconds():
    for bad in (-1.0, float("inf"), float("nan"), 8 * 24 * 3600.0):
        with pytest.raises(ValueError, match="deadline_s"):
            JobSubmit(job_id="j", text="t", deadline_s=bad)
        raw = msgpack.packb({**JobSubmit(job_id="j", text="t").to_wire(), "deadline_s": bad})
        with pytest.raises(wire.DecodeError, match="deadline_s"):  # from a peer: a decode error, answered as such
            wire.decode(JobSubmit, raw)
    assert wire.decode(JobSubmit, wire.encode(JobSubmit(job_id="j", text="t", deadline_s=5.0))).deadline_s == 5.0
