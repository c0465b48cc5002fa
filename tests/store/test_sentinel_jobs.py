"""Jobs through a gateway whose store is on Sentinel, the primary killed with
kill -9 after the fifth job, while the sixth is running."""

from __future__ import annotations

import trio

from hivemesh.client import submit_via
from hivemesh.gateway import election
from hivemesh.gateway.jobwire import JobEvent, JobSubmit
from hivemesh.gateway.store.redis_store import RedisStore
from hivemesh.mesh import wire
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until

from .topology import sentinel_setup

JOBS, KILL_AFTER = 20, 5
PIPELINE = Plan(
    subtasks=(
        Subtask("a", "summarize", "Summarise: {{input}}", (), 16),
        Subtask("b", "general", "Answer '{{job}}' from {{out:a}}", ("a",), 16),
    ),
    answer="b",
    planner="scripted",
)


def _registry(cap: str) -> ModelRegistry:
    registry = ModelRegistry()
    registry.add(SimulatedModel(f"sim-{cap}", echo=True, reply_words=2), (cap,))
    return registry


async def test_jobs_run_once_each_through_a_kill_9_failover(nursery) -> None:
    with sentinel_setup() as setup:
        url = setup.url(min_replicas=1)
        boot = await start_bootstrap(nursery)
        addr = [boot.node.full_addrs()[0]]
        workers = [await start_worker(nursery, addr, _registry(cap)) for cap in ("summarize", "general")]
        gw = await start_gateway(nursery, peer_config(addr, roles=()), RedisStore.from_url(url, "jobs:"),
                                 ScriptedPlanner([PIPELINE]))
        client = await start(nursery, peer_config(addr, advertise=False, roles=()))
        ready = {gw.node.peer_id} | {w.node.peer_id for w in workers}
        await wait_until(lambda: ready <= set(client.node.view.peers)
                         and election.elect_from_view(client.node.view, 1) == [gw.node.peer_id], 15, "the mesh")

        seen: dict[str, list[JobEvent]] = {}
        results = []
        old = setup.primary.port

        def on_event(i: int, event: JobEvent) -> None:
            seen[event.job_id].append(event)
            if i == KILL_AFTER and event.kind == "planned":  # the sixth job is in flight
                setup.primary.kill()

        for i in range(JOBS):
            job_id = f"fo-{i}"
            seen[job_id] = []
            submit = JobSubmit(job_id=job_id, text=f"Question number {i}", inputs=(f"input {i}",))
            with trio.fail_after(60):
                results.append(await submit_via(client.node, submit, 1, lambda e, i=i: on_event(i, e)))
        assert setup.primary.process.poll() is not None  # it was killed, mid-job

        assert [r.status for r in results] == ["done"] * JOBS, [r.error for r in results]
        assert all(f"input {i}" in r.answer for i, r in enumerate(results))  # each its own answer
        for events in seen.values():  # each answered once, in order, nothing skipped
            assert [e.index for e in events] == list(range(len(events)))
            assert [e.kind for e in events].count("accepted") == 1
            assert sum(e.terminal for e in events) == 1 and events[-1].terminal
        assert [w.worker.stats["completed"] for w in workers] == [JOBS, JOBS]  # no stage ran twice

        assert setup.primary_port() == setup.replica.port != old  # it did fail over
        audit = RedisStore.from_url(url, "jobs:")
        for job_id, events in seen.items():
            stored = [wire.decode(JobEvent, raw) for raw in audit.events(job_id)]
            assert [e.kind for e in stored] == [e.kind for e in events]
        # the gateway records a job's end just after sending its answer (a durable write that may WAIT
        # for the replica): every job leaves the active set, which here means within a few seconds
        with trio.move_on_after(10):
            while await trio.to_thread.run_sync(audit.list_active_jobs):
                await trio.sleep(0.1)
        assert audit.list_active_jobs() == []
        audit.close()
        gw.stop()
