"""Every wire decoder, under hypothesis: any bytes in, a message or DecodeError out."""

import importlib

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemesh.errors import DecodeError
from hivemesh.mesh import wire

MODULES = ["hivemesh.mesh.advert", "hivemesh.mesh.px", "hivemesh.worker.protocol", "hivemesh.gateway.jobwire",
           "hivemesh.worker.pipewire"]


def all_messages():
    for name in MODULES:
        importlib.import_module(name)
    seen, todo = [], list(wire.Message.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen and cls.__module__.startswith("hivemesh."):
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.__name__)


MESSAGES = all_messages()
FIELD_NAMES = sorted({f for cls in MESSAGES for f in getattr(cls, "__dataclass_fields__", {})})

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**64 - 1),
                    st.floats(allow_nan=True), st.text(max_size=40), st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)),
                                                 inner, max_size=6)), max_leaves=20)
maps = st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=12)


def test_every_message_type_is_covered():
    names = {c.__name__ for c in MESSAGES}
    assert {"SignedAdvert", "Advert", "PxRequest", "TaskReply", "StageAck", "StageToken", "JobSubmit", "JobEvent",
            "StageAssign", "StageDone", "Output", "OutputAck", "Resend"} <= names


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=400), maps.map(lambda m: msgpack.packb(m, use_bin_type=True))))
def test_decoder_never_raises_anything_but_decode_error(cls, data):
    try:
        msg = wire.decode(cls, data)
    except DecodeError:
        return
    # whatever decodes is a well-formed message that survives a round trip
    assert isinstance(msg, cls)
    assert wire.decode(cls, wire.encode(msg)) == msg


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_deeply_nested_input_is_a_decode_error(cls):
    data = b"\x91" * 5000 + b"\xc0"  # a list in a list in a list ...
    with pytest.raises(DecodeError):
        wire.decode(cls, data)
