"""Jobs are not lost nor ended twice: a gateway that loses a job's lease stops
acting for it and never ends it; kills under a stage do not fail its job.
Real peers on loopback, the in-process store shared as by two gateways."""

import trio

from hivemesh.client import submit_via
from hivemesh.errors import StoreUnavailable
from hivemesh.gateway import lease
from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.jobwire import JobEvent, JobRecord, JobSubmit
from hivemesh.gateway.store import MemoryBackend, MemoryStore
from hivemesh.mesh import wire
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until

TWO = Plan(
    subtasks=(
        Subtask("a", "summarize", "Summarise: {{job}}", (), 16),
        Subtask("b", "general", "Write up: {{out:a}}", ("a",), 16),
    ),
    answer="b", planner="scripted",
)


class FlakyRenewals(MemoryStore):
    """The store as the gateway sees it when only its lease renewals fail."""

    renewals_fail = False

    def renew_lease(self, job_id, owner, ttl_s):
        if self.renewals_fail:
            raise StoreUnavailable("renewal refused (test)")
        return super().renew_lease(job_id, owner, ttl_s)


def registry(cap, latency):
    r = ModelRegistry()
    r.add(SimulatedModel(f"sim-{cap}", echo=True, reply_words=2, latency_s=latency), (cap,))
    return r


def events(store, job_id):
    return [wire.decode(JobEvent, raw) for raw in store.events(job_id, 0)]


def kinds(store, job_id):
    return [e.kind for e in events(store, job_id)]


async def mesh(nursery, store, latency):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    workers = {cap: await start_worker(nursery, addr, registry(cap, latency)) for cap in ("summarize", "general")}
    gw = await start_gateway(nursery, peer_config(addr, roles=()), store, ScriptedPlanner([TWO]))
    obs = await start(nursery, peer_config(addr, advertise=False, roles=()))
    await wait_until(lambda: len(obs.node.view.peers) == 3 and len(gw.node.view.peers) >= 2, 30, "the mesh")
    return obs, gw, workers


async def test_a_gateway_whose_lease_was_taken_does_not_end_the_job(nursery, monkeypatch):
    # renewals far apart: only the check before the end can see that the lease is gone
    monkeypatch.setattr(lease, "LEASE_TTL_S", 60.0)
    store = MemoryStore(backend=MemoryBackend())
    obs, gw, workers = await mesh(nursery, store, latency=1.0)
    got = []

    async def submit():
        got.append(await submit_via(obs.node, JobSubmit(job_id="taken", text="go"), 1, None, reattach_s=60))

    nursery.start_soon(submit)
    await wait_until(lambda: "subtask_started" in kinds(store, "taken"), 15, "the job to start")
    store.release_lease("taken", gw.node.peer_id)
    assert store.acquire_lease("taken", "another-gateway", 60)  # taken over while its stages run
    await wait_until(lambda: kinds(store, "taken").count("subtask_finished") == 2, 15, "the answer's report")
    await trio.sleep(1.0)
    assert not any(e.terminal for e in events(store, "taken")), kinds(store, "taken")
    assert not got
    store.release_lease("taken", "another-gateway")  # the other holder died: the job is resumed and ends once
    await wait_until(lambda: bool(got), 30, "the job's end")
    assert got[0].status == "done", got[0].error
    assert sum(e.terminal for e in events(store, "taken")) == 1, kinds(store, "taken")


async def test_a_gateway_that_cannot_renew_its_lease_stops_the_job_here(nursery, monkeypatch):
    monkeypatch.setattr(lease, "LEASE_TTL_S", 2.0)  # renewed every 0.5 s, lost after 2 s without a renewal
    store = FlakyRenewals(backend=MemoryBackend())
    obs, gw, workers = await mesh(nursery, store, latency=8.0)
    nursery.start_soon(submit_via, obs.node, JobSubmit(job_id="unrenewed", text="go"), 1, None)
    await wait_until(lambda: "subtask_started" in kinds(store, "unrenewed"), 15, "the job to start")
    store.renewals_fail = True
    stages = workers["summarize"].node.stages
    # the lease may lapse (and another gateway take the job): the pipeline stops, its stage is cancelled
    await wait_until(lambda: stages.stats["cancelled"] >= 1, 6, "the stage to be cancelled")
    assert not any(e.terminal for e in events(store, "unrenewed")), kinds(store, "unrenewed")
    assert "unrenewed" not in gw.extra["gateway"].live or gw.extra["gateway"].live["unrenewed"].stopped


ONE = Plan(subtasks=(Subtask("a", "summarize", "Summarise: {{job}}", (), 16),), answer="a", planner="scripted")


async def test_workers_killed_under_a_stage_do_not_fail_the_job_while_others_remain(nursery):
    # seen: 100 worker kills failed jobs whose first stage was killed under them 4 times (the strike limit)
    from hivemesh.simulations.inproc import close_connections

    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    alive = [await start_worker(nursery, addr, registry("summarize", 2.0)) for _ in range(2)]
    store = MemoryStore(backend=MemoryBackend())
    gw = await start_gateway(nursery, peer_config(addr, roles=()), store, ScriptedPlanner([ONE]))
    obs = await start(nursery, peer_config(addr, advertise=False, roles=()))
    await wait_until(lambda: len(obs.node.view.peers) == 3 and len(gw.node.view.peers) >= 3, 30, "the mesh")
    got = []

    async def submit():
        got.append(await submit_via(obs.node, JobSubmit(job_id="killed", text="go"), 1, None))

    nursery.start_soon(submit)
    for _ in range(ps.MAX_STRIKES):  # as a kill -9 (the connections close, then the peer stops), then a fresh peer
        await wait_until(lambda: any(w.node.stages.stages for w in alive), 30, "a stage on a worker")
        victim = next(w for w in alive if w.node.stages.stages)
        alive.remove(victim)
        await close_connections(victim.node)
        victim.stop()
        alive.append(await start_worker(nursery, addr, registry("summarize", 2.0)))
    await wait_until(lambda: bool(got), 60, "the job's end")
    assert got[0].status == "done", got[0].error


class StatusNotSaved(MemoryStore):
    """The store as left by a gateway that told a job's end and died before
    saving its status: the record still says running, the job is still active."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refused = 0

    def put_job(self, job_id, data):
        if not self.refused and wire.decode(JobRecord, data).status in ("done", "failed"):
            self.refused += 1
            raise StoreUnavailable("the gateway died here (test)")
        return super().put_job(job_id, data)


async def test_a_job_whose_end_was_told_is_not_run_again_when_its_status_was_not_saved(nursery):
    # seen once in a suite run: a killed gateway's job ended twice (the gateway that resumed it ran it again)
    backend = MemoryBackend()
    store = StatusNotSaved(backend=backend)
    obs, gw, workers = await mesh(nursery, store, latency=0.0)
    got = await submit_via(obs.node, JobSubmit(job_id="told", text="go"), 1, None)
    assert got.status == "done"
    # the end is told to the client first, then the gateway writes the record (and "dies" there), then lets go
    await wait_until(lambda: store.refused == 1 and store.lease_owner("told") is None, 10, "the record write and lease")
    assert "told" in store.list_active_jobs()
    # another gateway's scan loop (every advert interval) finds the job active with nobody's lease
    addr = [obs.node.config.bootstrap[0]]
    await start_gateway(nursery, peer_config(addr, roles=()), MemoryStore(backend=backend), ScriptedPlanner([TWO]))
    await wait_until(lambda: "told" not in store.list_active_jobs(), 10, "the job's status to be saved")
    await trio.sleep(1.0)  # two more scans
    assert wire.decode(JobRecord, store.get_job("told")).status == "done"
    assert sum(e.terminal for e in events(store, "told")) == 1, kinds(store, "told")
    assert "resumed" not in kinds(store, "told")
