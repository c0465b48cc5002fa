"""What an idle peer spends: whom the dialer asks for peers, and Yamux credit in batches."""

import os

import trio

from hivemesh.mesh import tuning, wire
from hivemesh.mesh.dialer import BOOTSTRAP_EVERY_ROUNDS, BOOTSTRAP_REFRESH_ROUNDS, px_source
from tests.meshutil import peer_config, start, start_bootstrap, wait_until

BULK = "/test/bulk/1"


def test_few_connections_ask_the_bootstraps_every_round():
    assert [px_source(3, 8, r) for r in range(1, 4)] == ["bootstrap"] * 3


def test_a_well_connected_node_asks_a_neighbour_and_seldom_the_bootstraps():
    rounds = range(1, 2 * BOOTSTRAP_REFRESH_ROUNDS + 1)
    asked = [px_source(8, 8, r) for r in rounds]
    assert asked.count("bootstrap") == 2 and px_source(8, 8, 0) == "bootstrap"  # the first round too
    assert asked.count("neighbour") == 2 * BOOTSTRAP_REFRESH_ROUNDS // BOOTSTRAP_EVERY_ROUNDS - 2
    assert asked.count("") == len(asked) - asked.count("bootstrap") - asked.count("neighbour")


async def test_yamux_credit_in_batches_still_carries_more_than_a_window(nursery):
    """With window updates only at half the window (``tuning``), a stream read
    in small pieces still carries several windows' worth (256 KiB each) in order."""
    tuning.apply()
    assert os.environ["PY_YAMUX_RELEASE_ON_READ"] == "0"
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    received = bytearray()
    done = trio.Event()

    async def sink(stream):
        while len(received) < len(payload):
            received.extend(await stream.read(1000))
        await stream.write(wire.frame(b"ok"))
        done.set()

    payload = bytes(range(256)) * 4096  # 1 MiB
    a = await start(nursery, peer_config([addr]))
    b = await start(nursery, peer_config([addr]))
    b.node.handle(BULK, sink)
    await wait_until(lambda: b.node.peer_id in a.node.view.peers, 15, "a to see b")
    stream = await a.node.open_stream(b.node.peer_id, BULK)
    with trio.fail_after(20):
        for i in range(0, len(payload), 16384):
            await stream.write(payload[i:i + 16384])
        assert await wire.read_frame(stream, 16) == b"ok"
        await done.wait()
    assert bytes(received) == payload


async def test_the_hosts_addresses_are_cached_yet_follow_its_listeners(nursery):
    """py-libp2p asks for our addresses on every pubsub RPC; ``cache_addrs``
    answers from a cache that is the same list, and is refreshed after its TTL."""
    from libp2p.peer.peerstore import env_to_send_in_RPC

    boot = await start_bootstrap(nursery)
    a = await start(nursery, peer_config([boot.node.full_addrs()[0]]))
    host = a.node.host
    assert getattr(host, "hivemesh_addrs_cached", False)
    fresh = [str(x) for x in type(host).get_addrs(host)]  # py-libp2p's own answer
    assert [str(x) for x in host.get_addrs()] == fresh and fresh
    host.get_addrs().clear()  # a caller changing its copy changes nothing
    assert [str(x) for x in host.get_addrs()] == fresh
    envelope, _ = env_to_send_in_RPC(host)  # the signed peer record pubsub sends still builds
    assert envelope
    tuning.cache_addrs(host, ttl_s=0.0)  # idempotent: still the first wrapper
    assert [str(x) for x in host.get_addrs()] == fresh


async def test_a_neighbours_signed_record_is_checked_once_and_a_forged_one_still_fails(nursery, monkeypatch):
    """pubsub checks the sender's signed peer record on every RPC; with
    ``cache_signed_records`` the same bytes from the same neighbour are checked
    once, while other bytes (tampered, or another peer's record) are checked and refused."""
    import libp2p.pubsub.gossipsub as gossipsub_module
    import libp2p.pubsub.pubsub as pubsub_module
    import libp2p.pubsub.utils as pubsub_utils
    from libp2p.peer.peerstore import env_to_send_in_RPC
    from libp2p.pubsub.pb import rpc_pb2

    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    a = await start(nursery, peer_config([addr]))
    b = await start(nursery, peer_config([addr]))
    consume = pubsub_module.maybe_consume_signed_record
    assert getattr(consume, "hivemesh_cached", False) and gossipsub_module.maybe_consume_signed_record is consume
    checks = []
    real = pubsub_utils.consume_envelope
    monkeypatch.setattr(pubsub_utils, "consume_envelope", lambda *args: checks.append(1) or real(*args))
    envelope, _ = env_to_send_in_RPC(a.node.host)
    rpc = rpc_pb2.RPC(senderRecord=envelope)
    host, sender = b.node.host, a.node.host.get_id()
    assert all(consume(rpc, host, sender) for _ in range(50))
    assert len(checks) == 1  # py-libp2p alone: 50
    forged = bytearray(envelope)
    forged[-1] ^= 1  # the signature's last byte
    assert not consume(rpc_pb2.RPC(senderRecord=bytes(forged)), host, sender)
    assert not consume(rpc, host, b.node.host.get_id())  # a's record, offered as another peer's
    assert len(checks) == 3
    assert consume(rpc_pb2.RPC(), host, sender)  # no record: nothing to check, as before


async def test_small_frames_read_one_by_one_cost_no_window_update(nursery, monkeypatch):
    """py-libp2p credited every small read at once (a WINDOW_UPDATE frame back
    per frame length and per body read); with go-yamux's rule (``tuning``)
    a stream whose reads stay under half the window sends none, and one that
    reads past it sends a few."""
    import struct

    from libp2p.stream_muxer.yamux.yamux import TYPE_WINDOW_UPDATE, Yamux

    tuning.apply()
    updates: list[int] = []
    write_frame = Yamux._write_frame

    async def counted(self, data, *args, **kwargs):
        _, typ, flags, sid, _ = struct.unpack(">BBHII", data[:12])
        if typ == TYPE_WINDOW_UPDATE and not flags:
            updates.append(sid)
        return await write_frame(self, data, *args, **kwargs)

    monkeypatch.setattr(Yamux, "_write_frame", counted)
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    served: list[int] = []

    async def sink(stream):
        served.append(stream.raw.muxed_stream.stream_id)
        got = 0
        while (frame := await wire.read_frame(stream, 4096)) != b"end":
            got += len(frame)
        await stream.write(wire.frame(str(got).encode()))

    a = await start(nursery, peer_config([addr]))
    b = await start(nursery, peer_config([addr]))
    b.node.handle(BULK, sink)
    await wait_until(lambda: b.node.peer_id in a.node.view.peers, 15, "a to see b")
    for frames, most in ((200, 0), (1000, 8)):  # 200 x 500 B: under half the 256 KiB window; 1000: ~2 windows
        updates.clear()
        stream = await a.node.open_stream(b.node.peer_id, BULK)
        with trio.fail_after(30):
            for _ in range(frames):
                await stream.write(wire.frame(b"x" * 500))
            await stream.write(wire.frame(b"end"))
            assert await wire.read_frame(stream, 16) == str(500 * frames).encode()
        await stream.close()
        assert len([s for s in updates if s == served[-1]]) <= most, (frames, updates.count(served[-1]))
        if most:
            assert served[-1] in updates  # credit still flows once half the window is read


async def test_small_reads_send_no_window_update_until_half_the_window(nursery, monkeypatch):
    """py-libp2p sent a WINDOW_UPDATE after most small reads; ``tuning.batch_window_updates``
    holds the credit until half the window (128 KiB) is read: 300 frames of 100
    bytes cost no update, and the stream still carries them all in order."""
    from libp2p.stream_muxer.yamux.yamux import YamuxStream

    assert getattr(YamuxStream._auto_tune_and_send_window_update, "hivemesh_batched", False)
    updates = []
    real = YamuxStream.send_window_update

    async def counted(self, increment, skip_lock=False):
        updates.append(increment)
        await real(self, increment, skip_lock)

    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    a = await start(nursery, peer_config([addr]))
    b = await start(nursery, peer_config([addr]))
    received = []
    done = trio.Event()

    async def sink(stream):
        while len(received) < 300:
            received.append(await wire.read_frame(stream, 1000))
        await stream.write(wire.frame(b"ok"))
        done.set()

    b.node.handle(BULK, sink)
    await wait_until(lambda: b.node.peer_id in a.node.view.peers, 15, "a to see b")
    stream = await a.node.open_stream(b.node.peer_id, BULK)
    monkeypatch.setattr(YamuxStream, "send_window_update", counted)
    with trio.fail_after(20):
        for i in range(300):
            await stream.write(wire.frame(bytes([i % 256]) * 96))
            await trio.sleep(0)  # one frame per read on the other side
        assert await wire.read_frame(stream, 16) == b"ok"
        await done.wait()
    assert received == [bytes([i % 256]) * 96 for i in range(300)]
    assert sum(updates) < 128 * 1024 and len(updates) <= 2, updates  # gossip beside may add one
