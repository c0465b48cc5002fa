from dataclasses import dataclass

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hivemesh.errors import DecodeError, FrameTooLarge
from hivemesh.mesh import wire


@dataclass(frozen=True)
class Inner(wire.Message):
    name: str
    score: float


@dataclass(frozen=True)
class Outer(wire.Message):
    MAX_BYTES = 512

    id: str
    n: int
    ok: bool
    blob: bytes
    tags: tuple[str, ...]
    inner: Inner
    maybe: int | None = None


GOOD = Outer("a", 3, True, b"\x00\x01", ("x", "y"), Inner("m", 1.5))


def test_round_trip_keeps_every_field():
    assert wire.decode(Outer, wire.encode(GOOD)) == GOOD


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"extra": 1}, "unknown fields"),
        ({"n": "3"}, "expected an integer"),
        ({"n": True}, "expected an integer"),
        ({"ok": 1}, "expected bool"),
        ({"tags": "xy"}, "expected a list"),
        ({"inner": {"name": "m"}}, "missing"),
        ({"inner": {"name": "m", "score": 1.0, "x": 2}}, "unknown fields"),
    ],
)
def test_every_field_is_checked(patch, message):
    obj = GOOD.to_wire() | patch
    with pytest.raises(DecodeError, match=message):
        wire.decode(Outer, msgpack.packb(obj, use_bin_type=True))


def test_missing_required_field_is_an_error():
    obj = GOOD.to_wire()
    del obj["id"]
    with pytest.raises(DecodeError, match="Outer.id: missing"):
        wire.decode(Outer, msgpack.packb(obj))


def test_oversize_message_is_refused_both_ways():
    big = Outer("a" * 600, 1, True, b"", (), Inner("m", 0.0))
    with pytest.raises(FrameTooLarge):
        wire.encode(big)
    with pytest.raises(FrameTooLarge):
        wire.decode(Outer, b"\x00" * 600)


@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_other_errors(data):
    try:
        wire.decode(Outer, data)
    except DecodeError:
        pass


class FakeStream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    async def read(self, n=None):
        self.reads += 1
        chunk, self.data = self.data[: n or len(self.data)], self.data[n or len(self.data):]
        return chunk


async def test_frame_round_trip():
    stream = FakeStream(wire.frame(wire.encode(GOOD)))
    assert await wire.read_message(stream, Outer) == GOOD


async def test_frame_length_checked_before_the_body_is_read():
    header = wire.frame(b"x" * 10_000)[:2]  # claims 10,000 bytes
    stream = FakeStream(header)  # and sends none of them
    with pytest.raises(FrameTooLarge, match="10000"):
        await wire.read_frame(stream, limit=512)
    assert stream.reads == 2  # only the varint was read


async def test_truncated_frame_is_a_decode_error():
    with pytest.raises(DecodeError, match="stream ended"):
        await wire.read_frame(FakeStream(wire.frame(b"abcdef")[:4]), limit=100)


async def test_overlong_varint_is_a_decode_error():
    with pytest.raises(DecodeError, match="varint"):
        await wire.read_frame(FakeStream(b"\xff" * 8), limit=2**40)


@dataclass(frozen=True)
class Small(wire.Message):
    MAX_BYTES = 64
    KIND = "small"
    text: str


@dataclass(frozen=True)
class Large(wire.Message):
    MAX_BYTES = 4096
    KIND = "large"
    text: str


def test_tagged_messages_decode_by_kind_with_each_kinds_own_limit():
    kinds = (Small, Large)
    assert wire.decode_kind(kinds, wire.encode_kind(Small("hi"))) == Small("hi")
    assert wire.decode_kind(kinds, wire.encode_kind(Large("x" * 1000))) == Large("x" * 1000)
    with pytest.raises(FrameTooLarge):  # a large body under the small tag is held to the small limit
        wire.decode_kind(kinds, msgpack.packb(["small", {"text": "x" * 1000}]))
    with pytest.raises(DecodeError, match="unknown kind"):
        wire.decode_kind(kinds, msgpack.packb(["huge", {"text": "x"}]))
    with pytest.raises(DecodeError, match="kind, fields"):
        wire.decode_kind(kinds, wire.encode(Small("untagged")))
    with pytest.raises(TypeError):
        wire.encode_kind(Inner("no kind", 1.0))
