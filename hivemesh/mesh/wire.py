"""Strict msgpack wire messages and length-prefixed frames.

Every message type is a frozen dataclass subclassing ``Message`` with a
``MAX_BYTES`` limit. ``decode`` checks the size before unpacking, then every
field's type; unknown or missing fields are a ``DecodeError``. Supported field
types: ``str``, ``int``, ``float``, ``bool``, ``bytes``, ``X | None``,
``tuple[T, ...]``, ``dict[str, T]`` and nested ``Message`` types.

Frames on streams are an unsigned varint length followed by that many bytes;
the length is checked against the caller's limit before anything is read.

A stream that carries messages of several kinds at one point (the stage
stream's token frames and its final report) sends them tagged:
``[KIND, fields]``, each type declaring its ``KIND``; ``decode_kind`` takes
the expected types, refuses any other tag and checks the size limit of the
type the tag names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, get_type_hints

import msgpack

from hivemesh.errors import DecodeError, FrameTooLarge

M = TypeVar("M", bound="Message")

MAX_VARINT_BYTES = 5  # lengths up to 2**35; every limit we use is far below


class Message:
    """Base of every wire message (subclasses are frozen dataclasses)."""

    MAX_BYTES: ClassVar[int] = 64 * 1024
    KIND: ClassVar[str] = ""  # its tag where a stream carries several kinds (``encode_kind``)

    def to_wire(self) -> Any:
        return {name: _to_wire(getattr(self, name)) for name in _names(type(self))}

    @classmethod
    def from_wire(cls: type[M], obj: Any, path: str = "") -> M:
        where = path or cls.__name__
        if not isinstance(obj, dict):
            raise DecodeError(f"{where}: expected a map, got {type(obj).__name__}")
        spec = _spec(cls)
        if not spec.known.issuperset(obj):
            raise DecodeError(f"{where}: unknown fields {sorted(map(str, set(obj) - spec.known))}")
        values = {}
        for name, check, required in spec.fields:
            if name in obj:
                values[name] = check(obj[name], f"{where}.{name}")
            elif required:
                raise DecodeError(f"{where}.{name}: missing")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"{where}: {exc}") from None


# --- each type's checks, worked out once (the hot path of every stream) ----------

Check = Callable[[Any, str], Any]  # (value, where) -> the value as the field holds it, or DecodeError


@dataclasses.dataclass(frozen=True)
class _Spec:
    known: frozenset[str]
    fields: tuple[tuple[str, Check, bool], ...]  # (name, its check, required)


_SPECS: dict[type, _Spec] = {}
_CHECKS: dict[Any, Check] = {}
_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return names


def _spec(cls: type) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is None:
        hints = {k: v for k, v in get_type_hints(cls).items() if typing.get_origin(v) is not ClassVar}
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        spec = _SPECS[cls] = _Spec(
            frozenset(hints),
            tuple((f.name, _checker(hints[f.name]),
                   f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING) for f in fields))
    return spec


def _to_wire(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_wire()
    if isinstance(value, tuple):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    return value


def _checker(tp: Any) -> Check:
    check = _CHECKS.get(tp)
    if check is None:
        check = _CHECKS[tp] = _make_checker(tp)
    return check


def _make_checker(tp: Any) -> Check:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        some = _checker(inner)
        return lambda value, where: None if value is None else some(value, where)
    if origin is tuple:
        item = _checker(typing.get_args(tp)[0])

        def a_tuple(value: Any, where: str) -> Any:
            if not isinstance(value, (list, tuple)):
                raise DecodeError(f"{where}: expected a list")
            return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))
        return a_tuple
    if origin is dict:
        key, val = (_checker(a) for a in typing.get_args(tp))

        def a_map(value: Any, where: str) -> Any:
            if not isinstance(value, dict):
                raise DecodeError(f"{where}: expected a map")
            return {key(k, where): val(v, f"{where}.{k}") for k, v in value.items()}
        return a_map
    if isinstance(tp, type) and issubclass(tp, Message):
        return tp.from_wire
    if tp is float:
        def a_float(value: Any, where: str) -> Any:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DecodeError(f"{where}: expected a number")
            return float(value)
        return a_float
    if tp is int:
        def an_int(value: Any, where: str) -> Any:
            if isinstance(value, bool) or not isinstance(value, int):
                raise DecodeError(f"{where}: expected an integer")
            return value
        return an_int
    if tp in (str, bytes, bool):
        def exactly(value: Any, where: str) -> Any:
            if type(value) is not tp:
                raise DecodeError(f"{where}: expected {tp.__name__}")
            return value
        return exactly
    raise TypeError(f"unsupported wire field type {tp!r}")


def encode(msg: Message) -> bytes:
    return _packed(msg, msg.to_wire())


def _packed(msg: Message, obj: Any) -> bytes:
    data = msgpack.packb(obj, use_bin_type=True)
    if len(data) > msg.MAX_BYTES:
        raise FrameTooLarge(f"{type(msg).__name__} is {len(data)} bytes, limit {msg.MAX_BYTES}")
    return data


def decode(cls: type[M], data: bytes) -> M:
    return cls.from_wire(_unpack(data, cls.MAX_BYTES, cls.__name__))


def _unpack(data: bytes, limit: int, name: str) -> Any:
    if len(data) > limit:
        raise FrameTooLarge(f"{name} is {len(data)} bytes, limit {limit}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=limit)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise DecodeError(f"{name}: not valid msgpack ({exc})") from None


def encode_kind(msg: Message) -> bytes:
    """``msg`` tagged with its type's ``KIND``: ``[KIND, fields]``."""
    if not msg.KIND:
        raise TypeError(f"{type(msg).__name__} declares no KIND")
    return _packed(msg, [msg.KIND, msg.to_wire()])


def decode_kind(types: Sequence[type[Message]], data: bytes) -> Message:
    """A tagged message of one of ``types``; any other tag is a ``DecodeError``,
    and the size limit is that of the type the tag names."""
    names = "/".join(t.__name__ for t in types)
    obj = _unpack(data, max(t.MAX_BYTES for t in types), names)
    if not (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], str)):
        raise DecodeError(f"{names}: expected [kind, fields]")
    cls = next((t for t in types if t.KIND == obj[0]), None)
    if cls is None:
        raise DecodeError(f"{names}: unknown kind {obj[0][:40]!r}, expected one of {[t.KIND for t in types]}")
    if len(data) > cls.MAX_BYTES:
        raise FrameTooLarge(f"{cls.__name__} is {len(data)} bytes, limit {cls.MAX_BYTES}")
    return cls.from_wire(obj[1])


# --- frames -----------------------------------------------------------------


class ByteStream(Protocol):
    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


def frame(data: bytes) -> bytes:
    """Length-prefix ``data`` with an unsigned varint."""
    out = bytearray()
    n = len(data)
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    return bytes(out) + data


async def _read_exactly(stream: ByteStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise StreamEnded(f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class StreamEnded(DecodeError):
    """The stream ended, between frames or inside one: the sender went away
    (or hung up), which is no proof of misbehaviour."""


class EndOfStream(StreamEnded):
    """The stream ended cleanly between frames."""


async def read_length(stream: ByteStream, limit: int) -> int:
    n = 0
    for i in range(MAX_VARINT_BYTES):
        first = await stream.read(1)
        if not first:
            if i == 0:
                raise EndOfStream("stream ended")
            raise StreamEnded("stream ended inside a frame length")
        byte = first[0]
        n |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if n > limit:
                raise FrameTooLarge(f"frame of {n} bytes, limit {limit}")
            return n
    raise DecodeError("frame length varint too long")


async def read_frame(stream: ByteStream, limit: int) -> bytes:
    """Read one frame; the size is checked before the body is read."""
    return await _read_exactly(stream, await read_length(stream, limit))


async def read_message(stream: ByteStream, cls: type[M]) -> M:
    return decode(cls, await read_frame(stream, cls.MAX_BYTES))


async def write_message(stream: ByteStream, msg: Message) -> None:
    await stream.write(frame(encode(msg)))


async def read_kind(stream: ByteStream, types: Sequence[type[Message]]) -> Message:
    """One tagged frame of one of ``types``."""
    return decode_kind(types, await read_frame(stream, max(t.MAX_BYTES for t in types)))


async def write_kind(stream: ByteStream, msg: Message) -> None:
    await stream.write(frame(encode_kind(msg)))
