"""Jobs end to end: bootstrap, gateway(s) with a real Redis, workers, client."""

import time

import pytest
import trio

from hivemesh.client import Client, submit_via
from hivemesh.mesh.identity import generate
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.gateway import election
from hivemesh.peer.inprocess import start_gateway
from hivemesh.gateway.jobwire import JobSubmit
from hivemesh.gateway.store import RedisStore
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import INTERVAL, peer_config, start, start_bootstrap, start_worker, wait_until

PIPELINE = Plan(
    subtasks=(
        Subtask("a", "summarize", "Summarise: {{input}}", (), 32),
        Subtask("b", "analysis", "Analyse this summary: {{out:a}}", ("a",), 32),
        Subtask("c", "general", "Answer '{{job}}' from {{out:a}} and {{out:b}}", ("a", "b"), 32),
    ),
    answer="c",
    planner="scripted",
)


def echo_registry(cap):
    registry = ModelRegistry()
    registry.add(SimulatedModel(f"sim-{cap}", echo=True, reply_words=2), (cap,))
    return registry


async def mesh(nursery, redis_url, planner, gateways=1, store=RedisStore.from_url):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    workers = {cap: await start_worker(nursery, addr, echo_registry(cap)) for cap in ("summarize", "analysis", "general")}
    gws = []
    for _ in range(gateways):
        gws.append(await start_gateway(nursery, peer_config(addr, roles=()), store(redis_url), planner))
    watcher = await start(nursery, peer_config(addr, advertise=False, roles=()))
    everyone = {w.node.peer_id for w in workers.values()} | {g.node.peer_id for g in gws}
    await wait_until(lambda: everyone <= set(watcher.node.view.peers), 15, "the whole mesh")
    return addr, workers, gws


def client(addr):
    return Client(addr, advert_interval=INTERVAL, join_timeout=15)


async def test_pipeline_job_honours_dependencies_and_reports_accounting(nursery, redis_server_url):
    planner = ScriptedPlanner([PIPELINE])
    addr, workers, (gw,) = await mesh(nursery, redis_server_url, planner)
    events = []
    result = await client(addr).submit_async("What matters here?", ["Bees make honey. Honey is sweet."],
                                             job_id="job-1", on_event=events.append)
    assert result.status == "done", result.error
    # the answer was written by the general model from b's output, which came from a's
    assert result.answer.startswith("[sim-general ")
    assert "[sim-analysis " in result.answer and "[sim-summarize " in result.answer
    assert "Bees make honey" in result.answer  # the input reached the first stage
    by_id = {s.id: s for s in result.subtasks}
    assert {i: by_id[i].peer_id for i in "abc"} == {
        "a": workers["summarize"].node.peer_id, "b": workers["analysis"].node.peer_id,
        "c": workers["general"].node.peer_id}
    finished = [e.subtask_id for e in events if e.kind == "subtask_finished"]
    assert sorted(finished) == ["a", "b", "c"]  # each reported once
    assert [e.index for e in events] == list(range(len(events)))
    acc = result.accounting
    assert acc.mesh_tokens == sum(s.tokens for s in result.subtasks) > 0
    assert acc.cloud_tokens == 0 and acc.cloud_usd == 0 and acc.cloud_only_usd > 0
    assert result.plan.planner == "scripted" and [s.id for s in result.plan.subtasks] == ["a", "b", "c"]


async def test_plan_cache_and_idempotent_job_ids(nursery, redis_server_url):
    planner = ScriptedPlanner([PIPELINE])
    addr, workers, (gw,) = await mesh(nursery, redis_server_url, planner)
    first = await client(addr).submit_async("Same job", ["x y z"], job_id="idem-1")
    completed = {cap: w.worker.stats["completed"] for cap, w in workers.items()}
    again = await client(addr).submit_async("Same job", ["x y z"], job_id="idem-1")
    assert again.answer == first.answer and again.gateway == first.gateway
    assert {cap: w.worker.stats["completed"] for cap, w in workers.items()} == completed  # nothing re-ran
    other = await client(addr).submit_async("same   JOB", ["x y z"], job_id="idem-2")  # same job, new id
    assert other.status == "done"
    assert planner.calls == 1  # the second job's plan came from the cache


async def test_missing_capability_fails_cleanly(nursery, redis_server_url):
    plan = Plan((Subtask("a", "code", "Write {{job}}", (), 16),), "a", "scripted")
    addr, workers, _ = await mesh(nursery, redis_server_url, ScriptedPlanner([plan], check=False))
    result = await client(addr).submit_async("write a parser", job_id="nocode")
    assert result.status == "failed" and "'code'" in result.error
    assert all(w.worker.stats["completed"] == 0 for w in workers.values())


async def test_bad_plan_never_reaches_a_worker(nursery, redis_server_url):
    cyclic = Plan((Subtask("a", "general", "{{out:b}}", ("b",), 16),
                   Subtask("b", "general", "{{out:a}}", ("a",), 16)), "b", "scripted")
    addr, workers, _ = await mesh(nursery, redis_server_url, ScriptedPlanner([cyclic], check=False))
    result = await client(addr).submit_async("loop forever", job_id="cyclic")
    assert result.status == "failed" and "cycle" in result.error
    assert all(not w.worker.stats for w in workers.values())


async def test_two_gateways_killing_one_routes_to_the_other(nursery, redis_server_url):
    planner = ScriptedPlanner([PIPELINE])
    addr, workers, gws = await mesh(nursery, redis_server_url, planner, gateways=2)
    observer = await start(nursery, peer_config(addr, advertise=False, roles=()))
    ids = {g.node.peer_id for g in gws}
    await wait_until(lambda: set(election.elect_from_view(observer.node.view, 2)) == ids, 10, "both elected")
    job_id = next(f"route-{i}" for i in range(100)
                  if election.route(f"route-{i}", ids)[0] == gws[0].node.peer_id)
    gws[0].stop()  # the client's first choice dies just before submission
    submit = JobSubmit(job_id=job_id, text="Who answers?", inputs=("some input",))
    with trio.fail_after(30):
        result = await submit_via(observer.node, submit, 2, None)
    assert result.status == "done" and result.gateway == gws[1].node.peer_id


class SlowLeases(RedisStore):
    """A Redis that takes a second to grant a lease (a far or busy Redis)."""

    def acquire_lease(self, *args, **kwargs):
        time.sleep(2 * INTERVAL)  # the gateway's scan for orphaned jobs runs every INTERVAL meanwhile
        return super().acquire_lease(*args, **kwargs)


async def test_a_new_job_runs_once_while_its_lease_is_being_taken(nursery, redis_server_url):
    """Between creating a job and holding its lease, the job looks orphaned to
    the gateway's own scan loop; it must not be started a second time."""
    addr, workers, (gw,) = await mesh(nursery, redis_server_url, ScriptedPlanner([PIPELINE]),
                                      store=SlowLeases.from_url)
    events = []
    with trio.fail_after(30):
        result = await client(addr).submit_async("Once only", ["x y z"], job_id="once", on_event=events.append)
    assert result.status == "done", result.error
    await trio.sleep(4 * INTERVAL)  # a second run, had one started, would finish its stages now
    assert [w.worker.stats["completed"] for w in workers.values()] == [1, 1, 1]
    assert [e.kind for e in events].count("accepted") == 1 and sum(e.terminal for e in events) == 1


async def test_gateway_with_unreachable_redis_refuses_to_start(tmp_path):
    from hivemesh.config import Settings
    from hivemesh.errors import StoreUnavailable
    from hivemesh.peer.daemon import run_peer
    from tests.redis_server import free_port

    settings = Settings(gateway=True, redis=f"redis://127.0.0.1:{free_port()}/0", identity=tmp_path / "k")
    with pytest.raises(StoreUnavailable, match="127.0.0.1"):
        async with run_peer(settings, keypair=generate()):
            pass


async def test_gateway_that_loses_redis_stops_taking_jobs_and_keeps_serving(nursery):
    from tests.redis_server import throwaway_redis

    with throwaway_redis() as server:
        boot = await start_bootstrap(nursery)
        addr = [boot.node.full_addrs()[0]]
        registry = echo_registry("general")
        gw = await start_gateway(nursery, peer_config(addr), RedisStore.from_url(server.url),
                                 ScriptedPlanner([PIPELINE]), registry=registry)
        watcher = await start(nursery, peer_config(addr, advertise=False, roles=()))
        await wait_until(lambda: gw.node.peer_id in watcher.node.view.peers
                         and "gateway" in watcher.node.view.peers[gw.node.peer_id].advert.roles, 10, "gateway")
        server.kill()
        await wait_until(lambda: not gw.extra["gateway"].available, 10, "the gateway to notice")
        await wait_until(lambda: "gateway" not in watcher.node.view.peers[gw.node.peer_id].advert.roles, 10,
                         "adverts without the gateway role")
        # a client that still tries it is told why (after waiting its window for a
        # gateway to appear: 5 s here, 60 s by default), and the peer still serves subtasks
        submit = JobSubmit(job_id="after-loss", text="anything")
        from hivemesh.errors import JobFailed
        from hivemesh.gateway import election as el

        with pytest.raises(JobFailed, match="no gateway"):
            with trio.fail_after(20):
                await submit_via(watcher.node, submit, 1, None, reattach_s=5.0)
        from hivemesh.worker.pipewire import StageAssign
        from hivemesh.worker.stagecall import call_stage

        done = await call_stage(watcher.node, gw.node.peer_id, StageAssign(
            job_id="j", subtask_id="s", attempt=1, capability="general", template="hi", job_text="", inputs={},
            chunks={}, depends_on=(), downstream=(), max_tokens=8, deadline_s=10, answer=True))
        assert done.ok and done.text
        assert el.elect_from_view(watcher.node.view) == []
        from contextlib import aclosing

        from hivemesh.client import _events

        async with aclosing(_events(watcher.node, gw.node.peer_id, submit)) as events:
            refusal = await events.__anext__()
        assert refusal.kind == "failed" and "store unavailable" in refusal.detail


class AggregatingPlanner(ScriptedPlanner):
    """A scripted planner that also aggregates, like ClaudePlanner does."""

    async def aggregate(self, job, outputs, max_tokens=1024):
        from hivemesh.planner.base import AggregateResult

        self.aggregated = dict(outputs)
        return AggregateResult(f"final answer from {sorted(outputs)}", "claude-sonnet-4-5", 300, 40)


async def test_aggregation_by_the_planner_llm_is_counted_as_cloud_tokens(nursery, redis_server_url):
    planner = AggregatingPlanner([PIPELINE], model="claude-sonnet-4-5", cloud_tokens=(200, 100))
    addr, workers, _ = await mesh(nursery, redis_server_url, planner)
    plain = await client(addr).submit_async("Plain", ["doc"], job_id="agg-0")
    assert plain.answer.startswith("[sim-general") and not hasattr(planner, "aggregated")
    result = await client(addr).submit_async("Aggregate me", ["doc"], job_id="agg-1", aggregate=True)
    # outputs stay on the workers: the aggregator sees the answer subtask's output
    assert result.answer == "final answer from ['c']"
    assert set(planner.aggregated) == {"c"}
    acc = result.accounting
    assert (acc.cloud_input_tokens, acc.cloud_output_tokens) == (500, 140)
    assert acc.cloud_usd > 0 and acc.cloud_model == "claude-sonnet-4-5"


async def test_planner_selection():
    from hivemesh.config import Settings
    from hivemesh.planner.base import FallbackPlanner
    from hivemesh.planner.offline import OfflinePlanner
    from hivemesh.planner.select import make_planner

    assert isinstance(await make_planner(Settings(), None), OfflinePlanner)
    chosen = await make_planner(Settings(anthropic_api_key="sk-test", claude_model="claude-haiku-4-5"), None)
    assert isinstance(chosen, FallbackPlanner) and chosen.primary.name.endswith("claude-haiku-4-5")
    assert "sk-test" not in repr(Settings(anthropic_api_key="sk-test"))
