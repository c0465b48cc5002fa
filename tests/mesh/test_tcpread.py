"""A connection's reader takes a burst of small frames in a few socket reads (``mesh.tcpread``)."""

import struct

import trio
from libp2p.io.trio import TrioTCPStream
from libp2p.io.utils import read_exactly

from hivemesh.mesh import tuning


class Counting:
    """A trio stream that counts ``receive_some`` calls."""

    def __init__(self, stream):
        self.stream, self.reads = stream, 0

    async def receive_some(self, n=None):
        self.reads += 1
        return await self.stream.receive_some(n)

    async def send_all(self, data):
        await self.stream.send_all(data)

    async def aclose(self):
        await self.stream.aclose()


async def test_a_burst_of_frames_is_read_in_order_with_few_socket_reads():
    """1,000 length-prefixed frames (as Noise sends them) queued on a socket:
    the reader gets every byte in order, in a handful of socket reads. Before
    ``tcpread`` each 2-byte length and each body was its own socket read (and
    its own trips through trio's run queue): 2,000 reads, so a lagging
    connection could sit on 100 KB of gossip while a stream open waited."""
    tuning.apply()
    a, b = trio.socket.socketpair()
    sender, receiver = trio.SocketStream(a), Counting(trio.SocketStream(b))
    frames = [bytes([i % 251]) * (20 + i % 90) for i in range(1000)]
    wire = b"".join(struct.pack(">H", len(f)) + f for f in frames)
    conn = TrioTCPStream(receiver)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.send_all, wire)
        got = []
        for _ in frames:
            (size,) = struct.unpack(">H", await read_exactly(conn, 2))
            got.append(await read_exactly(conn, size))
    assert got == frames
    assert receiver.reads <= 20, receiver.reads
    await sender.aclose()
    assert await conn.read(10) == b""  # the end of the stream still reads as b""
