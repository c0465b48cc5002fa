"""The worker role over real py-libp2p streams on loopback."""

import pytest
import trio

from hivemesh.errors import CapabilityMissing, DeadlineExceeded, TaskError, WorkerBusy, WrongModel
from hivemesh.mesh import wire
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.worker.pipewire import STAGE, StageAck, StageAssign, StageDone
from hivemesh.worker.protocol import PROTOCOL, TaskReply, TaskRequest
from hivemesh.worker.tasks import call_task
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


def req(task_id="t1", capability="general", prompt="Hello", **kw):
    return TaskRequest(task_id=task_id, job_id="j1", capability=capability, prompt=prompt, **kw)


@pytest.mark.slow
async def test_real_bundled_model_answers_a_subtask_from_another_peer(nursery, gemma):
    registry = ModelRegistry()
    registry.add(gemma, ("general", "summarize"))
    worker, caller = await pair(nursery, registry)
    entry = caller.node.view.peers[worker.node.peer_id]
    assert entry.advert.models[0].capabilities == ("general", "summarize")
    assert entry.advert.capacity.slots_total == 1
    reply = await call_task(caller.node, worker.node.peer_id,
                            req(prompt="The capital of France is", max_tokens=8, chat=False))
    assert reply.ok and reply.text.strip() and reply.model == gemma.name
    assert 0 < reply.completion_tokens <= 8 and reply.prompt_tokens > 3
    assert reply.peer_id == worker.node.peer_id
    # the advert now reports a measured speed from real traffic
    await wait_until(lambda: caller.node.view.peers[worker.node.peer_id].advert.models[0].tokens_per_second > 0,
                     5, "a measured tokens/s")


@pytest.mark.slow
async def test_prompt_longer_than_context_is_a_clear_error(nursery, gemma):
    registry = ModelRegistry()
    registry.add(gemma, ("general",))
    worker, caller = await pair(nursery, registry)
    with pytest.raises(TaskError) as info:
        await call_task(caller.node, worker.node.peer_id, req(prompt="word " * 3000, max_tokens=8))
    assert info.value.code == "context_overflow"


async def test_capability_mismatch(nursery):
    worker, caller = await pair(nursery, sim_registry())
    with pytest.raises(CapabilityMissing, match="code"):
        await call_task(caller.node, worker.node.peer_id, req(capability="code"))


async def test_full_worker_says_busy_at_once(nursery):
    worker, caller = await pair(nursery, sim_registry(latency=3.0), slots=1, max_queue=0)
    results = []

    async def slow():
        results.append(await call_task(caller.node, worker.node.peer_id, req("slow")))

    nursery.start_soon(slow)
    await wait_until(lambda: worker.worker.admission.running == 1, 5, "the first subtask to run")
    with trio.fail_after(2):  # "at once", not after the 3 s subtask
        with pytest.raises(WorkerBusy):
            await call_task(caller.node, worker.node.peer_id, req("second"))
    await wait_until(lambda: results, 10, "the first subtask to finish")
    assert results[0].ok


async def test_deadline_passes_gives_error_and_frees_the_slot(nursery):
    worker, caller = await pair(nursery, sim_registry(latency=30.0), slots=1, max_queue=0)
    with trio.fail_after(5):
        with pytest.raises(DeadlineExceeded):
            await call_task(caller.node, worker.node.peer_id, req(deadline_s=0.5))
    assert worker.worker.admission.running == 0


async def test_cancelled_subtask_frees_its_slot(nursery):
    registry = ModelRegistry()
    registry.add(SimulatedModel("slow", latency_s=30.0), ("general",))
    registry.add(SimulatedModel("fast"), ("code",))
    worker, caller = await pair(nursery, registry, slots=1, max_queue=0)
    w = worker.worker
    with trio.move_on_after(0.5):
        await call_task(caller.node, worker.node.peer_id, req("doomed"))
    await wait_until(lambda: w.admission.running == 0, 5, "the slot to be freed")
    assert w.stats["cancelled"] == 1
    with trio.fail_after(3):
        reply = await call_task(caller.node, worker.node.peer_id, req("next", capability="code"))
    assert reply.ok and reply.model == "fast"


async def test_malformed_and_invalid_frames_get_a_bad_request_reply(nursery):
    worker, caller = await pair(nursery, sim_registry())
    for payload in (wire.frame(b"\x01\x02garbage"), wire.frame(wire.encode(req()).replace(b"general", b"generaX")[:-3])):
        stream = await caller.node.open_stream(worker.node.peer_id, PROTOCOL)
        await stream.write(payload)
        reply = await wire.read_message(stream, TaskReply)
        assert not reply.ok and reply.error_code == "bad_request"
    # a semantically invalid request (max_tokens out of range) is refused by the decoder too
    bad = wire.encode(req()).replace(b"\xaamax_tokens\xcd\x01\x00", b"\xaamax_tokens\xcd\xff\xff")
    stream = await caller.node.open_stream(worker.node.peer_id, PROTOCOL)
    await stream.write(wire.frame(bad))
    reply = await wire.read_message(stream, TaskReply)
    assert reply.error_code == "bad_request" and "max_tokens" in reply.error
    reply = await call_task(caller.node, worker.node.peer_id, req())
    assert reply.ok


async def test_a_subtask_pinned_to_other_weights_is_refused(nursery):
    registry = sim_registry()
    sim = registry.model_for("general")
    worker, caller = await pair(nursery, registry)
    advert = caller.node.view.peers[worker.node.peer_id].advert
    assert advert.models[0].sha256 == sim.model_hash and advert.models[0].quant == "sim"
    assert advert.serves("general", sim.model_hash) and not advert.serves("general", "0" * 64)
    reply = await call_task(caller.node, worker.node.peer_id, req(model_hash=sim.model_hash))
    assert reply.ok and reply.model == "sim"
    with pytest.raises(WrongModel) as info:
        await call_task(caller.node, worker.node.peer_id, req(model_hash="0" * 64))
    assert info.value.code == "wrong_model"


async def test_a_stage_pinned_to_other_weights_is_refused(nursery):
    worker, caller = await pair(nursery, sim_registry())
    assign = StageAssign(job_id="j", subtask_id="s", attempt=1, capability="general", template="x",
                         job_text="", inputs={}, chunks={}, depends_on=(), downstream=(), max_tokens=4,
                         deadline_s=5, answer=False, model_hash="f" * 64)
    stream = await caller.node.open_stream(worker.node.peer_id, STAGE)
    await wire.write_message(stream, assign)
    ack = await wire.read_message(stream, StageAck)
    assert not ack.ok and ack.error_code == "wrong_model"
    # the peer keeps serving: the same stage pinned to its real weights runs
    pinned = StageAssign(**{**assign.__dict__, "model_hash": worker.worker.registry.model_for("general").model_hash})
    stream = await caller.node.open_stream(worker.node.peer_id, STAGE)
    await wire.write_message(stream, pinned)
    assert (await wire.read_message(stream, StageAck)).ok
    done = await wire.read_message(stream, StageDone)
    assert done.ok and done.model == "sim" and done.claim.producer == worker.node.peer_id
