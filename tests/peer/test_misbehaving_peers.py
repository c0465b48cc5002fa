"""Misbehaving peers lose standing locally: not scheduled, gossip dropped, streams refused."""

import time

import trio
from libp2p.peer.id import ID

from hivemesh.client import submit_via
from hivemesh.mesh import advert as adv
from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.models.base import Completion
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import start_gateway
from hivemesh.gateway.jobwire import JobSubmit
from hivemesh.worker.pipewire import STAGE
from hivemesh.gateway.store import MemoryStore
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import peer_config, sees_all, start, start_bootstrap, start_worker, wait_until

ONE = Plan((Subtask("a", "general", "Do {{job}}", (), 16),), "a", "scripted")


def registry(name, tokens_per_second=0.0):
    r = ModelRegistry()
    r.add(SimulatedModel(name, tokens_per_second=tokens_per_second), ("general",))
    return r


async def test_worker_with_bad_reports_is_banned_and_not_scheduled(nursery, monkeypatch):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    liar = await start_worker(nursery, addr, registry("liar"))
    honest = await start_worker(nursery, addr, registry("honest", tokens_per_second=50.0))  # its real speed
    from hivemesh.worker import stages

    real_sign, bogus = stages.sign_claim, generate()
    monkeypatch.setattr(stages, "sign_claim",  # the liar signs its outputs with a key that is not its own
                        lambda claim, key: real_sign(claim, bogus if claim.producer == liar.node.peer_id else key))
    # and it advertises itself as the fastest, so the scheduler keeps preferring it until it is banned
    liar.worker.registry.observe("liar", Completion("x " * 100, 1, 100, 0.1, "stop"))
    honest.worker.registry.observe("honest", Completion("x " * 10, 1, 10, 1.0, "stop"))
    gw = await start_gateway(nursery, peer_config(addr, roles=()), MemoryStore(), ScriptedPlanner([ONE]))
    obs = await start(nursery, peer_config(addr, advertise=False, roles=()))
    await wait_until(lambda: len(obs.node.view.peers) == 3 and len(gw.node.view.peers) >= 3, 10, "the mesh")
    def liar_looks_fast():
        entry = gw.node.view.peers.get(liar.node.peer_id)
        return entry is not None and entry.advert.models[0].tokens_per_second > 100

    await wait_until(liar_looks_fast, 5, "the liar's advert")
    # three bad reports ban it. It is the first choice while its latest advert shows
    # a free slot (one sent mid-run shows it taken), so wait for that before each job
    for i in range(8):
        await wait_until(lambda: liar_looks_fast() and gw.node.view.peers[liar.node.peer_id].advert.capacity.slots_free,
                         5, "the liar to look fast and free")
        with trio.fail_after(30):  # a job that never ends is a failure, not a hang
            result = await submit_via(obs.node, JobSubmit(job_id=f"j{i}", text=f"task {i}"), 1, None)
        assert result.status == "done" and result.subtasks[0].model == "honest"  # never the liar's word
        if liar.node.peer_id in gw.node.banned():
            break
    assert liar.node.peer_id in gw.node.banned()
    events = []
    with trio.fail_after(30):
        await submit_via(obs.node, JobSubmit(job_id="after", text="after the ban"), 1, events.append)
    assert all(e.peer_id != liar.node.peer_id for e in events if e.kind == "subtask_started")


async def test_forwarder_of_forged_adverts_loses_standing(nursery):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    honest, target, attacker = [await start(nursery, peer_config(addr)) for _ in range(3)]
    await wait_until(lambda: sees_all([honest.node, target.node, attacker.node]), 10, "the mesh")
    attacker.node.pubsub.remove_topic_validator(adv.TOPIC)
    key = generate()
    for i in range(8):  # adverts claiming to be the honest peer, signed with another key
        now = time.time()
        forged = adv.Advert(honest.node.peer_id, int(now * 1000) + i, now, now + 5, (), (),
                            adv.Capacity(9, 9, 0), ("worker", "gateway"))
        await attacker.node.pubsub.publish(adv.TOPIC, adv.sign(forged, key))
    await wait_until(lambda: attacker.node.peer_id in target.node.banned(), 5, "the ban")
    # its gossip is dropped now: it leaves the target's view although it keeps advertising
    await wait_until(lambda: attacker.node.peer_id not in target.node.view.peers, 5, "the attacker to vanish")
    assert honest.node.peer_id in target.node.view.peers
    assert target.node.view.peers[honest.node.peer_id].advert.roles == ("worker",)
    assert peer_id_of(key) not in target.node.view.peers
    # and it is hung up on, and stays off: its pubsub state is torn down the normal way
    await wait_until(lambda: attacker.node.peer_id not in target.node.connected_peers(), 5, "the hang-up")
    await trio.sleep(3)  # the attacker's dial loop tries again; the target refuses its gossip
    assert attacker.node.peer_id not in target.node.view.peers
    assert ID.from_base58(attacker.node.peer_id) not in target.node.pubsub.peers


async def test_a_peer_that_dies_mid_frame_is_not_charged_for_it(nursery):
    """A cut-off stream (the sender died or hung up) is no misbehaviour; garbage is."""
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    worker = await start_worker(nursery, addr, registry("w"))
    sender = await start(nursery, peer_config(addr))
    await wait_until(lambda: worker.node.peer_id in sender.node.view.peers, 10, "the mesh")
    for _ in range(20):  # the first bytes of a frame, then the stream ends
        stream = await sender.node.open_stream(worker.node.peer_id, STAGE)
        await stream.write(b"\x40\x81")
        await stream.close()
    await trio.sleep(1)
    assert worker.node.reputation.score(sender.node.peer_id, time.time()) == 0
    stream = await sender.node.open_stream(worker.node.peer_id, STAGE)
    await stream.write(b"\x05\xff\xff\xff\xff\xff")  # a whole frame of garbage
    await wait_until(lambda: worker.node.reputation.score(sender.node.peer_id, time.time()) < 0, 5, "a charge")


async def test_a_worker_that_takes_a_stage_and_goes_quiet_loses_it_after_the_deadline(nursery):
    """It stays in the mesh and keeps the stream open, but never reports."""
    from hivemesh.mesh import wire
    from hivemesh.gateway.jobrun import JobSettings
    from hivemesh.worker.pipewire import StageAck, StageAssign

    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    quiet = await start_worker(nursery, addr, registry("quiet"))
    honest = await start_worker(nursery, addr, registry("honest"))
    taken = []

    async def take_and_sit(stream):
        taken.append(await wire.read_message(stream, StageAssign))
        await wire.write_message(stream, StageAck(True))
        await trio.sleep_forever()

    quiet.node.handle(STAGE, take_and_sit)
    quiet.worker.registry.observe("quiet", Completion("x " * 100, 1, 100, 0.1, "stop"))  # looks fastest
    settings = JobSettings(subtask_deadline_s=1.0, stall_grace_s=1.0)
    gw = await start_gateway(nursery, peer_config(addr, roles=()), MemoryStore(), ScriptedPlanner([ONE]), settings)
    obs = await start(nursery, peer_config(addr, advertise=False, roles=()))
    await wait_until(lambda: len(obs.node.view.peers) == 3 and len(gw.node.view.peers) >= 3, 10, "the mesh")
    await wait_until(lambda: gw.node.view.peers[quiet.node.peer_id].advert.models[0].tokens_per_second > 100,
                     5, "the quiet worker's advert")
    events = []
    with trio.fail_after(15):
        result = await submit_via(obs.node, JobSubmit(job_id="q", text="task"), 1, events.append)
    assert taken and result.status == "done" and result.subtasks[0].peer_id == honest.node.peer_id
    retry = [e for e in events if e.kind == "subtask_retry"]
    assert retry and retry[0].peer_id == quiet.node.peer_id and "stalled" in retry[0].detail
