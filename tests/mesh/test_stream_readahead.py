"""``Stream`` reads ahead: one py-libp2p read serves several frames, in order, and the end still shows."""

import trio
from libp2p.network.stream.exceptions import StreamEOF

from hivemesh.mesh import wire
from hivemesh.mesh.stream import Stream


class Chunks:
    """A py-libp2p stream stand-in: each read returns the next chunk whatever was asked, then EOF."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks, self.reads = list(chunks), 0

    async def read(self, n=None):
        await trio.lowlevel.checkpoint()
        self.reads += 1
        if not self.chunks:
            raise StreamEOF()
        return self.chunks.pop(0)


async def test_several_frames_in_one_read_come_out_one_by_one_in_order():
    frames = [b"first", b"x" * 300, b"third"]  # 300 B: a two-byte length
    blob = b"".join(wire.frame(f) for f in frames)
    raw = Chunks(blob[:4], blob[4:])  # a frame split across reads, the rest in one
    stream = Stream(raw)
    assert [await wire.read_frame(stream, 1024) for _ in frames] == frames
    assert raw.reads == 2  # not one read per length byte and body
    assert await stream.read(10) == b""  # then the end, as before


async def test_a_read_never_returns_more_than_asked():
    stream = Stream(Chunks(b"abcdef"))
    assert await stream.read(2) == b"ab"
    assert await stream.read(None) == b"cdef"
    assert await stream.read(1) == b""
