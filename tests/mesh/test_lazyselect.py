"""Lazy multistream-select: the protocol proposed with the first frame, answered before the first read."""

import pytest
import trio
from libp2p.utils import encode_delim

from hivemesh.errors import StreamBroken
from hivemesh.mesh import lazyselect, wire
from tests.meshutil import peer_config, start, start_bootstrap, wait_until

ECHO = "/test/lazy-echo/1"
HELLO = "/test/lazy-hello/1"


def test_the_proposal_is_what_py_libp2p_sends_line_by_line():
    assert lazyselect.proposal(ECHO) == encode_delim(b"/multistream/1.0.0") + encode_delim(ECHO.encode())
    long = "/x/" + "y" * 300  # a length over 127 takes two varint bytes
    assert lazyselect.line(long) == encode_delim(long.encode())


def test_an_answer_other_than_the_echo_is_a_refusal():
    lazyselect.check_answer(lazyselect.MULTISTREAM, ECHO, ECHO)
    for header, echo in (("/multistream/1.0.0", "na"), ("/multistream/1.0.0", "/other/1"), ("/other/1.0.0", ECHO)):
        with pytest.raises(lazyselect.Refused):
            lazyselect.check_answer(header, echo, ECHO)


async def _pair(nursery):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    a, b = await start(nursery, peer_config(addr)), await start(nursery, peer_config(addr))
    await wait_until(lambda: b.node.peer_id in a.node.view.peers, 15, "a to see b")
    return a, b


async def test_a_lazy_stream_carries_frames_both_ways(nursery):
    """The handler's first read is the opener's first frame (the proposal in
    front of it was taken by py-libp2p's listener), and several frames follow."""
    a, b = await _pair(nursery)
    seen: list[bytes] = []

    async def echo(stream):
        while data := await wire.read_frame(stream, 64 * 1024):
            seen.append(data)
            await stream.write(wire.frame(data[::-1]))
            if data == b"last":
                return

    b.node.handle(ECHO, echo)
    big = bytes(range(256)) * 100
    with trio.fail_after(10):
        stream = await a.node.open_stream(b.node.peer_id, ECHO, lazy=True)
        for data in (b"first", big, b"last"):
            await stream.write(wire.frame(data))
            assert await wire.read_frame(stream, 64 * 1024) == data[::-1]
        await stream.close()
    assert seen == [b"first", big, b"last"]


async def test_a_lazy_stream_read_first_sends_its_proposal(nursery):
    """An opener that reads before writing still gets the protocol selected."""
    a, b = await _pair(nursery)

    async def hello(stream):
        await stream.write(wire.frame(b"hello"))

    b.node.handle(HELLO, hello)
    with trio.fail_after(10):
        stream = await a.node.open_stream(b.node.peer_id, HELLO, lazy=True)
        assert await wire.read_frame(stream, 64) == b"hello"
        await stream.close()


async def test_an_unsupported_protocol_breaks_the_first_read_and_keeps_the_peer(nursery):
    """A lazy open cannot know the protocol is refused; the first read says
    so (``StreamBroken``). The peer answered: it stays in the view."""
    a, b = await _pair(nursery)
    with trio.fail_after(10):
        stream = await a.node.open_stream(b.node.peer_id, "/test/nobody-speaks-this/1", lazy=True)
        await stream.write(wire.frame(b"anyone?"))
        with pytest.raises(StreamBroken, match="protocol not supported"):
            await wire.read_frame(stream, 64)
        await stream.reset()
    assert b.node.peer_id in a.node.view.peers

    async def hello(stream):
        await stream.write(wire.frame(b"hello"))

    b.node.handle(HELLO, hello)
    with trio.fail_after(10):  # and the connection still serves streams
        stream = await a.node.open_stream(b.node.peer_id, HELLO, lazy=True)
        assert await wire.read_frame(stream, 64) == b"hello"
        await stream.close()


async def test_the_listener_answers_a_lazy_proposal_with_its_first_reply_in_one_message(nursery, monkeypatch):
    """py-libp2p's listener sent its header and the protocol's echo as two
    messages; patched (``tuning``), a lazy proposal gets both in one, with the
    handler's first reply, and an eager opener (py-libp2p's ``new_stream``,
    which waits for the header) is still served, header first."""
    import struct

    from libp2p.stream_muxer.yamux.yamux import TYPE_DATA, Yamux

    sent: list[tuple[object, int, bytes]] = []
    write_frame = Yamux._write_frame

    async def counted(self, data, *args, **kwargs):
        _, typ, _, sid, _ = struct.unpack(">BBHII", data[:12])
        if typ == TYPE_DATA and len(data) > 12:
            sent.append((self, sid, bytes(data[12:])))
        return await write_frame(self, data, *args, **kwargs)

    monkeypatch.setattr(Yamux, "_write_frame", counted)
    a, b = await _pair(nursery)
    served: list[tuple[object, int]] = []

    async def echo(stream):
        served.append((stream.raw.muxed_conn, stream.raw.muxed_stream.stream_id))
        data = await wire.read_frame(stream, 64)
        await stream.write(wire.frame(data))

    b.node.handle(ECHO, echo)
    header, echoed, reply = lazyselect.line(lazyselect.MULTISTREAM), lazyselect.line(ECHO), wire.frame(b"ping")
    for lazy, expected in ((True, [header + echoed + reply]), (False, [header, echoed, reply])):
        sent.clear()
        with trio.fail_after(10):
            stream = await a.node.open_stream(b.node.peer_id, ECHO, lazy=lazy)
            await stream.write(wire.frame(b"ping"))
            assert await wire.read_frame(stream, 64) == b"ping"
            await stream.close()
        conn, sid = served[-1]
        assert [data for c, s, data in sent if c is conn and s == sid] == expected, lazy
