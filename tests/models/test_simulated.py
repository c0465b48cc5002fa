"""The simulated model: deterministic, honours limits, stop strings and cancel."""

import json
import threading
import time

import pytest

from hivemesh.errors import ContextOverflow, ModelError
from hivemesh.models.base import ChatMessage, CompletionRequest, ModelBackend
from hivemesh.models.simulated import SimulatedModel, prompt_digest
from hivemesh.models.schema_sample import sample_instance


def ask(prompt, **kw):
    return CompletionRequest(prompt=prompt, **kw)


def test_is_a_backend():
    assert isinstance(SimulatedModel(), ModelBackend)


def test_deterministic_and_tagged():
    model = SimulatedModel("alice")
    a = model.generate(ask("summarize this"))
    b = SimulatedModel("alice").generate(ask("summarize this"))
    assert a.text == b.text
    assert a.text.startswith(f"[alice {prompt_digest('summarize this')}]")
    assert a.model == "alice" and a.finish_reason == "stop"
    assert a.prompt_tokens == 2 and a.completion_tokens == len(a.text.split())
    assert model.generate(ask("other prompt")).text != a.text


def test_echo_shows_upstream_outputs_in_a_pipeline():
    upstream = SimulatedModel("up").generate(ask("read chunk 1")).text
    downstream = SimulatedModel("down", echo=True)
    out = downstream.generate(ask(f"Analyse: {upstream}"))
    assert upstream in out.text
    assert out.text.startswith("[down ")


def test_messages_are_rendered_plainly():
    msgs = (ChatMessage("system", "be brief"), ChatMessage("user", "hi"))
    out = SimulatedModel(echo=True).generate(CompletionRequest(messages=msgs))
    assert "System: be brief" in out.text and "User: hi" in out.text


def test_max_tokens_truncates_with_length():
    out = SimulatedModel(reply_words=50).generate(ask("x", max_tokens=5))
    assert out.completion_tokens == 5 and len(out.text.split()) == 5
    assert out.finish_reason == "length"


def test_stop_string_cuts_text():
    model = SimulatedModel(echo=True)
    out = model.generate(ask("one two STOP three", stop=("STOP",)))
    assert "STOP" not in out.text and "three" not in out.text
    assert out.text.endswith("one two") and out.finish_reason == "stop"


def test_context_overflow():
    model = SimulatedModel(context_size=4)
    with pytest.raises(ContextOverflow):
        model.generate(ask("a b c d"))
    out = model.generate(ask("a b c", max_tokens=50))  # clamped to the room left
    assert out.completion_tokens == 1 and out.finish_reason == "length"


def test_pacing():
    model = SimulatedModel(latency_s=0.05, tokens_per_second=200, reply_words=9)
    out = model.generate(ask("x"))
    assert out.completion_tokens == 11  # "[sim <digest>]" is two words
    assert 0.05 + 11 / 200 <= out.seconds < 1.0


def test_cancel_mid_generation_is_quick():
    model = SimulatedModel(tokens_per_second=20, reply_words=100)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    out = model.generate(ask("x", max_tokens=100), cancel)
    assert time.monotonic() - started < 0.4
    assert out.finish_reason == "cancelled"
    assert 0 < out.completion_tokens < 10
    assert len(out.text.split()) == out.completion_tokens


def test_cancel_during_latency():
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    out = SimulatedModel(latency_s=5).generate(ask("x"), cancel)
    assert out.finish_reason == "cancelled" and out.completion_tokens == 0
    assert out.seconds < 1


def test_instant_model_still_sees_a_preset_cancel():
    cancel = threading.Event()
    cancel.set()
    out = SimulatedModel().generate(ask("x"), cancel)
    assert out.finish_reason == "cancelled" and out.text == ""


def test_script_overrides_text():
    model = SimulatedModel(script=lambda prompt: prompt.upper())
    assert model.generate(ask("hello there")).text == "HELLO THERE"


def test_json_schema_gives_a_valid_instance():
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
            "kind": {"$ref": "#/$defs/kind"},
        },
        "$defs": {"kind": {"const": "plan"}},
    }
    out = SimulatedModel().generate(ask("plan it", json_schema=json.dumps(schema)))
    value = json.loads(out.text)
    assert value == {"title": prompt_digest("plan it"), "score": 3, "tags": ["a"], "kind": "plan"}


def test_sample_instance_types():
    assert sample_instance({"type": ["null", "string"]}) is None
    assert sample_instance({"type": "number", "minimum": 1.5}) == 1.5
    assert sample_instance({"anyOf": [{"type": "boolean"}]}) is False
    assert sample_instance({"type": "string", "minLength": 3}, "a") == "axx"


def test_bad_schema_is_a_model_error():
    with pytest.raises(ModelError, match="not JSON"):
        SimulatedModel().generate(ask("x", json_schema="{nope"))
