"""The worker role over real py-libp2p streams on loopback: stages on
``/hivemesh/stage/1``, the one path a subtask takes to a worker."""

import msgpack
import pytest
import trio

from hivemesh.errors import CapabilityMissing, DeadlineExceeded, TaskError, WorkerBusy, WrongModel
from hivemesh.mesh import wire
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.worker import stages as stages_module
from hivemesh.worker.pipewire import STAGE, StageAck, StageAssign, verify_claim
from hivemesh.worker.stagecall import call_stage
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until


def sim_registry(latency=0.0, caps=("general",)):
    registry = ModelRegistry()
    registry.add(SimulatedModel("sim", latency_s=latency), caps)
    return registry


async def pair(nursery, registry, **kw):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    worker = await start_worker(nursery, addr, registry, **kw)
    caller = await start(nursery, peer_config(addr))
    await wait_until(lambda: worker.node.peer_id in caller.node.view.peers, 10, "the worker's advert")
    return worker, caller


def stage(subtask_id="s1", capability="general", template="Hello", **kw):
    fields = dict(job_id="j1", subtask_id=subtask_id, attempt=1, capability=capability, template=template,
                  job_text="", inputs={}, chunks={}, depends_on=(), downstream=(), max_tokens=16, deadline_s=30,
                  answer=True)
    return StageAssign(**{**fields, **kw})


@pytest.mark.slow
async def test_real_bundled_model_answers_a_stage_from_another_peer(nursery, gemma):
    registry = ModelRegistry()
    registry.add(gemma, ("general", "summarize"))
    worker, caller = await pair(nursery, registry)
    entry = caller.node.view.peers[worker.node.peer_id]
    assert entry.advert.models[0].capabilities == ("general", "summarize")
    assert entry.advert.capacity.slots_total == 1
    done = await call_stage(caller.node, worker.node.peer_id,
                            stage(template="The capital of France is", max_tokens=8, chat=False))
    assert done.ok and done.text.strip() and done.model == gemma.name
    assert 0 < done.completion_tokens <= 8 and done.prompt_tokens > 3
    assert done.claim.producer == worker.node.peer_id and verify_claim(done.claim, done.sig, done.text)
    # the advert now reports a measured speed from real traffic
    await wait_until(lambda: caller.node.view.peers[worker.node.peer_id].advert.models[0].tokens_per_second > 0,
                     5, "a measured tokens/s")


@pytest.mark.slow
async def test_prompt_longer_than_context_is_a_clear_error(nursery, gemma):
    registry = ModelRegistry()
    registry.add(gemma, ("general",))
    worker, caller = await pair(nursery, registry)
    with pytest.raises(TaskError) as info:
        await call_stage(caller.node, worker.node.peer_id, stage(template="word " * 3000, max_tokens=8))
    assert info.value.code == "context_overflow"


async def test_capability_mismatch(nursery):
    worker, caller = await pair(nursery, sim_registry())
    with pytest.raises(CapabilityMissing, match="code"):
        await call_stage(caller.node, worker.node.peer_id, stage(capability="code"))


async def test_a_worker_full_of_stages_says_busy_at_once(nursery, monkeypatch):
    monkeypatch.setattr(stages_module, "MAX_STAGES", 1)
    worker, caller = await pair(nursery, sim_registry(latency=3.0), slots=1)
    results = []

    async def slow():
        results.append(await call_stage(caller.node, worker.node.peer_id, stage("slow")))

    nursery.start_soon(slow)
    await wait_until(lambda: worker.worker.admission.running == 1, 5, "the first stage to run")
    with trio.fail_after(2):  # "at once", not after the 3 s stage
        with pytest.raises(WorkerBusy):
            await call_stage(caller.node, worker.node.peer_id, stage("second"))
    await wait_until(lambda: results, 10, "the first stage to finish")
    assert results[0].ok


async def test_deadline_passes_gives_error_and_frees_the_slot(nursery):
    worker, caller = await pair(nursery, sim_registry(latency=30.0), slots=1)
    with trio.fail_after(5):
        with pytest.raises(DeadlineExceeded):
            await call_stage(caller.node, worker.node.peer_id, stage(deadline_s=0.5))
    assert worker.worker.admission.running == 0


async def test_cancelled_stage_frees_its_slot(nursery):
    registry = ModelRegistry()
    registry.add(SimulatedModel("slow", latency_s=30.0), ("general",))
    registry.add(SimulatedModel("fast"), ("code",))
    worker, caller = await pair(nursery, registry, slots=1)
    with trio.move_on_after(0.5):
        await call_stage(caller.node, worker.node.peer_id, stage("doomed"))
    await wait_until(lambda: worker.worker.admission.running == 0, 5, "the slot to be freed")
    assert worker.peer.stages.stats["cancelled"] == 1
    with trio.fail_after(3):
        done = await call_stage(caller.node, worker.node.peer_id, stage("next", capability="code"))
    assert done.ok and done.model == "fast"


async def test_malformed_and_invalid_frames_get_a_bad_request_reply(nursery):
    worker, caller = await pair(nursery, sim_registry())
    truncated = wire.encode(stage()).replace(b"general", b"generaX")[:-3]
    invalid = msgpack.packb({**stage().to_wire(), "stop": ["a", "b", "c", "d", "e"]})  # five stop strings
    for payload, why in ((b"\x01\x02garbage", "msgpack"), (truncated, ""), (invalid, "stop strings")):
        stream = await caller.node.open_stream(worker.node.peer_id, STAGE)
        await stream.write(wire.frame(payload))
        ack = await stream.receive(StageAck)
        assert not ack.ok and ack.error_code == "bad_request" and why in ack.error
        await stream.close()
    assert worker.peer.stages.stats["bad_request"] == 3
    done = await call_stage(caller.node, worker.node.peer_id, stage())
    assert done.ok  # the peer keeps serving


async def test_a_stage_pinned_to_other_weights_is_refused(nursery):
    registry = sim_registry()
    sim = registry.model_for("general")
    worker, caller = await pair(nursery, registry)
    advert = caller.node.view.peers[worker.node.peer_id].advert
    assert advert.models[0].sha256 == sim.model_hash and advert.models[0].quant == "sim"
    assert advert.serves("general", sim.model_hash) and not advert.serves("general", "0" * 64)
    with pytest.raises(WrongModel) as info:
        await call_stage(caller.node, worker.node.peer_id, stage(model_hash="f" * 64))
    assert info.value.code == "wrong_model"
    # the peer keeps serving: the same stage pinned to its real weights runs
    done = await call_stage(caller.node, worker.node.peer_id, stage(model_hash=sim.model_hash))
    assert done.ok and done.model == "sim" and done.claim.producer == worker.node.peer_id
