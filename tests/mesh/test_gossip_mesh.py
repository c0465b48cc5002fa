"""Gossipsub's mesh as it settles: no self-inflicted GRAFT floods, and adverts that
reach their peers while a mesh has holes (``gossip.steady_mesh``,
``gossip.reach_past_mesh_holes``). The plain tests drive py-libp2p's own
``GossipSub`` with its sending recorded instead of written; the live one runs
real peers on loopback."""

from __future__ import annotations

import time

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2

from hivemesh.mesh import advert as adv
from hivemesh.mesh import gossip, tuning
from hivemesh.mesh.identity import generate
from tests.meshutil import peer_config, start, start_bootstrap, wait_until

TOPIC = adv.TOPIC


class _Pubsub:
    """What ``GossipSub`` reads of its pubsub in these paths: who we are, who is
    connected and subscribed."""

    def __init__(self, me: ID, peers: list[ID]) -> None:
        self.my_id = me
        self.peers = {p: None for p in peers}
        self.peer_topics = {TOPIC: set(peers)}


def _peer() -> ID:
    return ID.from_pubkey(generate().public_key)


def _router(peers: int, mesh: int, *, tuned: bool = True) -> tuple[GossipSub, list[ID], list[tuple[ID, object]]]:
    """A router with ``peers`` gossipsub peers in the topic, ``mesh`` of them in its
    mesh; what it would send is recorded in the list returned."""
    router = gossip.make_router() if tuned else gossip.bare_router()
    ids = [_peer() for _ in range(peers)]
    router.pubsub = _Pubsub(_peer(), ids)
    router.peer_protocol = {p: gossip.GOSSIP_PROTOCOLS[0] for p in ids}
    router.mesh = {TOPIC: set(ids[:mesh])}
    sent: list[tuple[ID, object]] = []

    async def emit_control_message(control: object, to: ID) -> None:
        sent.append((to, control))

    router.emit_control_message = emit_control_message
    return router, ids, sent


def _graft() -> rpc_pb2.ControlGraft:
    return rpc_pb2.ControlGraft(topicID=TOPIC)


def _prune() -> rpc_pb2.ControlPrune:
    return rpc_pb2.ControlPrune(topicID=TOPIC, backoff=tuning.GOSSIP_PRUNE_BACKOFF_S)


def test_a_peer_the_heartbeat_prunes_is_in_backoff_here_too():
    """Above the high bound the heartbeat prunes down to the degree; a pruned peer
    must not be grafted again at the next heartbeat (its end would call that a flood)."""
    router, ids, _ = _router(peers=7, mesh=7)
    _, to_prune = router.mesh_heartbeat()
    pruned = {p for p, topics in to_prune.items() if TOPIC in topics}
    assert len(pruned) == 7 - tuning.GOSSIP_DEGREE[0]
    assert all(router._check_back_off(p, TOPIC) for p in pruned)
    router.mesh[TOPIC] = set()  # every neighbour gone: the next heartbeat grafts, never a pruned one
    to_graft, _ = router.mesh_heartbeat()
    assert set(to_graft) and not set(to_graft) & pruned
    bare, _, _ = _router(peers=7, mesh=7, tuned=False)  # py-libp2p 0.8.1 alone: none in backoff
    _, to_prune = bare.mesh_heartbeat()
    assert to_prune and not any(bare._check_back_off(p, TOPIC) for p in to_prune)


async def test_a_graft_when_the_backoff_ends_is_taken_not_called_a_flood():
    """Peer P pruned us; 9.5 s later (its backoff, in whole seconds, has ended) it
    grafts us while ours still has a moment to run: we take it into the mesh."""
    router, ids, sent = _router(peers=6, mesh=2)
    p = ids[5]
    await router.handle_prune(_prune(), p)
    assert router._check_back_off(p, TOPIC)
    # as if the PRUNE had come 9.5 s ago
    router.graft_flood_tracking[p][TOPIC] -= 9.5
    router.back_off[TOPIC][p] = int(time.time()) + 1
    await router.handle_graft(_graft(), p)
    assert p in router.mesh[TOPIC]
    assert not sent, "no PRUNE back"


async def test_a_graft_right_after_its_prune_is_still_refused():
    router, ids, sent = _router(peers=6, mesh=2)
    p = ids[5]
    await router.handle_prune(_prune(), p)
    await router.handle_graft(_graft(), p)  # at once: a flood, as before
    assert p not in router.mesh[TOPIC]
    assert [to for to, _ in sent] == [p]


def _sent_to(router: GossipSub, origin: ID, forwarder: ID) -> set[ID]:
    return set(router._get_peers_to_send([TOPIC], msg_forwarder=forwarder, origin=origin, msg_id=b"m1"))


def test_our_own_message_goes_to_every_peer_in_the_topic():
    router, ids, _ = _router(peers=7, mesh=0)
    me = router.pubsub.my_id
    assert _sent_to(router, me, me) == set(ids)
    router.dont_send_message_ids[ids[0]] = {b"m1"}  # IDONTWANT is still honoured
    assert _sent_to(router, me, me) == set(ids[1:])


def test_a_relay_through_a_thin_mesh_reaches_the_degree_and_a_full_one_only_the_mesh():
    degree, low, _ = tuning.GOSSIP_DEGREE
    router, ids, _ = _router(peers=8, mesh=1)
    origin, forwarder = ids[7], ids[6]
    sent = _sent_to(router, origin, forwarder)
    assert ids[0] in sent and len(sent) == degree and not sent & {origin, forwarder}
    router.mesh[TOPIC] = set(ids[:low])
    assert _sent_to(router, origin, forwarder) == set(ids[:low])
    bare, bare_ids, _ = _router(peers=8, mesh=1, tuned=False)  # py-libp2p alone: the one mesh peer
    assert _sent_to(bare, bare_ids[7], bare_ids[6]) == {bare_ids[0]}


async def test_an_advert_reaches_every_neighbour_while_its_peers_mesh_is_empty(nursery):
    """A peer whose gossipsub mesh emptied (every neighbour pruned it, all in
    backoff; IHAVE off so nothing else carries it) still gets its next advert to
    every peer it is connected to (py-libp2p alone sends it to nobody)."""
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    peers = [await start(nursery, peer_config([addr], advert_interval=2.0)) for _ in range(4)]
    ids = {p.node.peer_id for p in peers}
    await wait_until(lambda: all(ids - {p.node.peer_id} <= set(p.node.view.peers) for p in peers), 30,
                     "every peer to see the others")
    lonely = peers[0].node
    await wait_until(lambda: len(set(lonely.connected_peers()) & ids) == 3, 15, "the lonely peer to be connected")
    router = lonely.gossipsub
    tuning.lazy_gossip(router, 0)
    for pid in list(router.mesh.get(TOPIC, ())):
        router.mesh[TOPIC].discard(pid)
    for pid in router.pubsub.peer_topics.get(TOPIC, ()):
        router._add_back_off(pid, TOPIC, False, 600)
    before = {p.node.peer_id: p.node.view.peers[lonely.peer_id].advert.seq for p in peers[1:]}
    await lonely.publish_advert()
    with trio.fail_after(5):
        await wait_until(lambda: all(p.node.view.peers[lonely.peer_id].advert.seq > before[p.node.peer_id]
                                     for p in peers[1:]), 5, "every neighbour to hear the new advert")
