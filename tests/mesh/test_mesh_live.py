"""Real py-libp2p peers on loopback: joining, leaving, restarts, bad gossip."""

import time

import trio

from hivemesh.mesh import advert as adv
from hivemesh.mesh import guard, px, wire
from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.mesh.observe import observe
from tests.meshutil import INTERVAL, peer_config, sees_all, start, start_bootstrap, wait_until


async def start_mesh(nursery, n):
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    peers = [await start(nursery, peer_config([addr])) for _ in range(n)]
    return boot, addr, peers


async def test_five_peers_find_each_other_and_status_lists_them(nursery):
    boot, addr, peers = await start_mesh(nursery, 5)
    nodes = [p.node for p in peers]
    took = await wait_until(lambda: sees_all(nodes), 6 * INTERVAL * 4, "full views")
    print(f"5 peers converged in {took:.2f}s")
    snap = await observe([addr], INTERVAL, timeout=10)
    assert {p["peer_id"] for p in snap["peers"]} == {n.peer_id for n in nodes}
    assert all(p["roles"] == ["worker"] and p["addrs"] for p in snap["peers"])


async def test_mesh_survives_the_bootstrap_and_admits_a_peer_via_any_member(nursery):
    boot, addr, peers = await start_mesh(nursery, 5)
    nodes = [p.node for p in peers]
    await wait_until(lambda: sees_all(nodes), 12, "full views")
    boot.stop()
    await trio.sleep(4 * INTERVAL)  # longer than an advert TTL
    assert sees_all(nodes)
    sixth = await start(nursery, peer_config([nodes[2].full_addrs()[0]]))
    await wait_until(lambda: sees_all(nodes + [sixth.node]), 12, "the sixth peer to join")


async def test_stopped_peer_leaves_every_view_within_three_intervals(nursery):
    boot, addr, peers = await start_mesh(nursery, 4)
    nodes = [p.node for p in peers]
    await wait_until(lambda: sees_all(nodes), 12, "full views")
    victim = peers[0]
    victim.stop()
    gone_at = time.monotonic()
    rest = nodes[1:]
    took = await wait_until(
        lambda: all(victim.node.peer_id not in n.view.peers for n in rest), 6 * INTERVAL, "expiry"
    )
    assert took <= 3 * INTERVAL + 0.2, f"left the views after {took:.2f}s"
    assert time.monotonic() - gone_at < 3 * INTERVAL + 0.5


async def test_stopped_peer_hangs_up_and_refuses_new_connections(nursery):
    """A peer stopped by cancellation (Ctrl-C, its task cancelled) closes its
    sockets: its peers see it disconnect at once, and a dial is refused
    rather than half-accepted by a listener that outlived the host."""
    boot, addr, peers = await start_mesh(nursery, 2)
    nodes = [p.node for p in peers]
    await wait_until(lambda: sees_all(nodes), 12, "full views")
    victim, other = peers[0], nodes[1]
    await wait_until(lambda: victim.node.peer_id in other.connected_peers(), 12, "a direct connection")
    port = int(victim.node.listen_addrs()[0].split("/tcp/")[1].split("/")[0])
    victim.stop()
    await wait_until(lambda: victim.node.peer_id not in other.connected_peers(), 1.0, "the hang-up")
    with trio.fail_after(5):
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            pass  # refused: nothing listens there any more
        else:
            await stream.aclose()
            raise AssertionError("a stopped peer still accepts connections")


async def test_restart_with_same_identity_keeps_peer_id_and_is_not_a_replay(nursery):
    boot, addr, peers = await start_mesh(nursery, 2)
    key = generate()
    first = await start(nursery, peer_config([addr], keypair=key))
    nodes = [p.node for p in peers]
    await wait_until(lambda: sees_all(nodes + [first.node]), 12, "full views")
    old_seq = nodes[0].view.peers[first.node.peer_id].advert.seq
    first.stop()
    await trio.sleep(0.2)
    second = await start(nursery, peer_config([addr], keypair=key))
    assert second.node.peer_id == first.node.peer_id == peer_id_of(key)
    await wait_until(
        lambda: nodes[0].view.peers.get(second.node.peer_id) is not None
        and nodes[0].view.peers[second.node.peer_id].advert.seq > old_seq,
        12, "the restarted peer's new adverts",
    )
    # and it keeps being accepted (late echoes of the old incarnation may count as replays)
    seq = nodes[0].view.peers[second.node.peer_id].advert.seq
    await wait_until(lambda: nodes[0].view.peers[second.node.peer_id].advert.seq > seq, 4 * INTERVAL, "more adverts")


async def test_bad_adverts_on_the_topic_are_rejected_counted_and_harmless(nursery):
    boot, addr, peers = await start_mesh(nursery, 3)
    honest, target, attacker = (p.node for p in peers)
    await wait_until(lambda: sees_all([honest, target, attacker]), 12, "full views")
    now = time.time()
    key = generate()

    def advert(**kw):
        base = dict(peer_id=peer_id_of(key), seq=int(now * 1000), time=now, expires=now + 5,
                    addrs=(), models=(), capacity=adv.Capacity(1, 1, 0), roles=("worker", "gateway"))
        return adv.Advert(**(base | kw))

    good = adv.sign(advert(), key)
    bad = {
        "bad_signature": adv.sign(advert(peer_id=honest.peer_id), key),  # impersonation
        "expired": adv.sign(advert(time=now - 60, expires=now - 50, seq=1), key),
        "future": adv.sign(advert(time=now + 3600, expires=now + 3605, seq=2), key),
        "oversize": b"\x00" * (adv.SignedAdvert.MAX_BYTES + 10),
        "malformed": b"\xde\xad\xbe\xef garbage",
    }
    attacker.pubsub.remove_topic_validator(adv.TOPIC)  # a modified peer sends what it likes
    await attacker.pubsub.publish(adv.TOPIC, good)
    await wait_until(lambda: peer_id_of(key) in target.view.peers, 5, "the good advert")
    for raw in bad.values():
        await attacker.pubsub.publish(adv.TOPIC, raw)
    await attacker.pubsub.publish(adv.TOPIC, adv.sign(advert(seq=int(now * 1000) - 5), key))  # replay
    await wait_until(lambda: sum(target.view.rejected.values()) >= 6, 5, "rejections")
    for reason in list(bad) + ["replay"]:
        assert target.view.rejected[reason] >= 1, reason
    # nothing crashed, and the forged advert did not touch the honest peer's entry
    assert target.view.peers[honest.peer_id].advert.roles == ("worker",)
    await trio.sleep(2 * INTERVAL)
    assert sees_all([honest, target, attacker])


async def test_peer_survives_garbage_on_every_protocol_it_speaks(nursery):
    boot, addr, peers = await start_mesh(nursery, 3)
    victim, other, attacker = (p.node for p in peers)
    await wait_until(lambda: sees_all([victim, other, attacker]), 12, "full views")
    protocols = sorted(str(p) for p in victim.host.get_mux().handlers)
    assert "/meshsub/1.1.0" in protocols and px.PROTOCOL in protocols
    payloads = [
        bytes([5, 255, 255, 255, 255, 255]),  # the frame that killed py-libp2p 0.8.1
        b"\xff" * 12,  # varint that never ends
        wire.frame(b"\x00" * 50),
        bytes([200, 1]) + b"\x01" * 200,  # truncated
        b"",
    ]
    for protocol in protocols:
        for payload in payloads:
            try:
                stream = await attacker.host.new_stream(victim.host.get_id(), [protocol])
                if payload:
                    await stream.write(payload)
                await stream.close()
            except Exception:
                pass  # the victim may reset us; that is its right
        await trio.sleep(0.1)
    await trio.sleep(0.5)
    assert guard.contained["/meshsub/1.1.0"] >= 1  # the 6-byte frame really hit py-libp2p's handler
    # the victim still serves: peer exchange answers, and its adverts still reach the mesh
    answer = await other.ask_px(victim.peer_id)
    assert attacker.peer_id in {p.peer_id for p in answer}
    seq = other.view.peers[victim.peer_id].advert.seq
    await wait_until(lambda: other.view.peers[victim.peer_id].advert.seq > seq, 4 * INTERVAL, "fresh adverts")
