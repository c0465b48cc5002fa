"""The check desk's request: the producer's prompt, rendered by the gateway
from the plan and the upstream outputs the producer returned, each matched to
the hash of the output the gateway accepted."""

from types import MappingProxyType

from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.checking import CheckDesk, Produced
from hivemesh.worker.pipewire import StageAssign, digest

PIN = "ab" * 32


def assign(**kw) -> StageAssign:
    base = dict(job_id="j", subtask_id="b", attempt=1, capability="analysis", template="Analyse {{out:a}} for {{job}}",
                job_text="the job", inputs={}, chunks={}, depends_on=("a",), downstream=(), max_tokens=32,
                deadline_s=30.0, answer=False, checked=True, model_hash=PIN)
    return StageAssign(**{**base, **kw})


def ask(used) -> ps.AskCheck:
    return ps.AskCheck("b", 1, "producer", digest("out"), MappingProxyType(used))


def test_the_prompt_is_rendered_from_inputs_that_match_their_hashes():
    request = CheckDesk().request(ask({"a": digest("A's text")}), Produced(assign(), "out", {"a": "A's text"}))
    assert request is not None
    assert request.prompt == "Analyse A's text for the job" and request.output == "out"
    assert request.model_hash == PIN and request.check_id == "j/b/1" and request.chat


def test_no_request_when_an_input_does_not_match_or_nothing_is_pinned():
    desk = CheckDesk()
    assert desk.request(ask({"a": digest("A's text")}), Produced(assign(), "out", {"a": "forged"})) is None
    assert desk.request(ask({"a": digest("x")}), Produced(assign(), "out", {})) is None
    assert desk.request(ask({"a": digest("x")}), Produced(assign(model_hash=""), "out", {"a": "x"})) is None
    assert desk.request(ask({}), None) is None
