"""Slowness is not failure on a worker: a stage's deadline counts only the time
its peer's event loop had (issue 13). No sockets: the runner's model call is
faked; the loop is starved the way a saturated core starves it."""

import time
from types import SimpleNamespace

import trio

from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.models.base import Completion
from hivemesh.worker.pipewire import StageAssign
from hivemesh.worker.stages import Stage, StageRunner

KEY = generate()


class StarvedWorker:
    """Its generation takes ``wall_s`` of wall time; with ``starve`` the loop is blocked most of it."""

    def __init__(self, wall_s: float, starve: bool) -> None:
        self.wall_s, self.starve = wall_s, starve

    async def run_model(self, capability, request, on_token=None):
        if self.starve:
            end = time.monotonic() + self.wall_s
            while time.monotonic() < end:
                time.sleep(0.3)  # the whole loop stalls (another peer's CPU, a GC pause...)
                await trio.sleep(0.01)
        else:
            await trio.sleep(self.wall_s)
        return SimpleNamespace(name="sim"), Completion(text="done", prompt_tokens=1, completion_tokens=1, seconds=0.0,
                                                      finish_reason="stop")


def runner(worker) -> StageRunner:
    node = SimpleNamespace(peer_id=peer_id_of(KEY), penalize=lambda *a: None, config=SimpleNamespace(keypair=KEY))
    return StageRunner(worker=worker, node=node)


def stage(deadline_s: float) -> Stage:
    assign = StageAssign(job_id="j", subtask_id="s0", attempt=1, capability="general", template="hi", job_text="",
                         inputs={}, chunks={}, depends_on=(), downstream=(), max_tokens=8, deadline_s=deadline_s,
                         answer=True)
    s = Stage(assign)
    s.ready.set()
    return s


async def run_with_lag(stages: StageRunner, deadline_s: float):
    async with trio.open_nursery() as nursery:
        await nursery.start(stages.lag.run)
        done, _ = await stages._run(stage(deadline_s))
        nursery.cancel_scope.cancel()
    return done


async def test_a_starved_worker_does_not_fail_its_stage_for_its_own_slowness():
    # 1.5 s of wall time, almost all of it the loop blocked: a 1 s deadline is not passed
    done = await run_with_lag(runner(StarvedWorker(1.5, starve=True)), deadline_s=1.0)
    assert done.ok, done.error
    assert done.text == "done"


async def test_a_stage_that_really_runs_past_its_deadline_still_fails():
    done = await run_with_lag(runner(StarvedWorker(3.0, starve=False)), deadline_s=0.5)
    assert not done.ok and done.error_code == "deadline"


async def test_an_idle_worker_spends_nothing_on_measuring_lag():
    stages = runner(StarvedWorker(0.0, starve=False))
    async with trio.open_nursery() as nursery:
        await nursery.start(stages.lag.run)
        await trio.sleep(0.35)
        assert not stages.lag.stats.recent  # lazy: no ticks without a stage waiting on its deadline
        nursery.cancel_scope.cancel()
