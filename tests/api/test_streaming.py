"""Tokens end to end for the Python client, and the pieces that carry them:
the strict ``StageToken`` frames and the answer bookkeeping."""

import msgpack
import pytest
import trio

from hivemesh.client import Client
from hivemesh.errors import DecodeError
from hivemesh.gateway.jobwire import JobEvent, JobResult
from hivemesh.mesh import wire
from hivemesh.streaming import AnswerStream
from hivemesh.worker.pipewire import StageDone, StageToken
from hivemesh.worker.tokens import read_stage_end
from tests.api.apimesh import api_mesh
from tests.meshutil import INTERVAL


async def test_client_stream_yields_the_answer_as_it_is_generated(nursery):
    mesh = await api_mesh(nursery, tps=20, words=20)
    client = Client(mesh.bootstrap, advert_interval=INTERVAL, join_timeout=15)

    def run():
        stream = client.stream("Say hi")
        return list(stream), stream.result

    pieces, result = await trio.to_thread.run_sync(run)
    assert result.status == "done" and "".join(pieces) == result.answer
    assert len(pieces) >= 10  # the planned job's answer stage, streamed from its worker


class Frames:
    """A byte stream holding the given frames."""

    def __init__(self, *frames: bytes) -> None:
        self.data = b"".join(wire.frame(f) for f in frames)

    async def read(self, n=None):
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


async def test_stage_stream_tokens_then_done():
    done = StageDone(ok=True, text="ab c")
    got = []
    end = await read_stage_end(Frames(wire.encode_kind(StageToken("ab", 0)), wire.encode_kind(StageToken(" c", 1)),
                                      wire.encode_kind(done)), got.append)
    assert got == ["ab", " c"] and end == done


@pytest.mark.parametrize("frame", [
    msgpack.packb(["token", {"token": "x", "seq": 0, "extra": 1}]),  # unknown field
    msgpack.packb(["token", {"token": 5, "seq": 0}]),  # wrong type
    msgpack.packb(["token", {"token": "", "seq": 0}]),  # empty
    msgpack.packb(["token", {"token": "x" * 3000, "seq": 0}]),  # over the per-frame text limit
    msgpack.packb(["token", {"token": "x" * 9000, "seq": 0}]),  # over the frame size limit
    msgpack.packb({"token": "x", "seq": 0}),  # untagged
    msgpack.packb(["ack", {"ok": True}]),  # a kind this stream does not carry here
    msgpack.packb(["done", {"token": "x", "seq": 0}]),  # a token's fields under the done tag
])
async def test_bad_token_frames_are_decode_errors(frame):
    with pytest.raises(DecodeError):
        await read_stage_end(Frames(frame), lambda text: None)


def token(offset, text):
    return JobEvent(job_id="j", index=3, kind="token", detail=text, offset=offset)


def done(answer):
    result = JobResult(job_id="j", status="done", answer=answer, error="", plan=None, subtasks=(), accounting=None,
                       gateway="g", seconds=1.0)
    return JobEvent(job_id="j", index=4, kind="done", result=result)


def test_answer_stream_shows_text_once_in_order_and_completes_it():
    s = AnswerStream()
    assert [s.feed(e) for e in (token(0, "Hel"), token(3, "lo"), token(0, "Hello w"), token(9, "zz"),
                                done("Hello world"))] == ["Hel", "lo", " w", "", "orld"]
    assert s.shown == "Hello world" and not s.diverged


def test_answer_stream_notices_an_answer_that_differs_from_what_was_shown():
    s = AnswerStream()
    s.feed(token(0, "Hello"))
    assert s.feed(done("Goodbye")) == "" and s.diverged
