"""Capability registry: --model parsing, one load per model, lookups, speed."""

import pytest

from hivemesh.errors import CapabilityMissing, ConfigError, ModelNotFound
from hivemesh.models.base import Completion
from hivemesh.models.registry import (
    STANDARD_CAPABILITIES,
    ModelInfo,
    ModelRegistry,
    parse_model_args,
)
from hivemesh.models.simulated import SimulatedModel
from hivemesh.models.sources import load_model, parse_spec


def caps_by_target(args):
    return [(a.spec.target, a.capabilities) for a in parse_model_args(args)]


def test_the_default_map_is_the_bundled_models():
    assert caps_by_target([]) == [("gemma3-270m", ("general", "extract", "classify", "translate")),
                                  ("smollm2-135m-instruct", ("summarize", "code", "analysis", "instruct"))]


def test_several_caps_one_spec_are_grouped():
    args = ["summarize=sim:a", "code=sim:b", "analysis=sim:a", "math,extract=sim:b"]
    assert caps_by_target(args) == [
        ("a", ("summarize", "analysis")),
        ("b", ("code", "math", "extract")),
    ]


def test_aliases_of_one_model_are_grouped():
    args = ["summarize=bundled", "general=gemma3-270m"]
    assert caps_by_target(args) == [("gemma3-270m", ("summarize", "general"))]


def test_user_defined_capability_and_repeats():
    assert caps_by_target(["legal-review_2=sim:a", "legal-review_2=sim:a"]) == [
        ("a", ("legal-review_2",))
    ]


@pytest.mark.parametrize(
    "arg,match",
    [
        ("summarize", "CAP=SPEC"),
        ("summarize=", "CAP=SPEC"),
        ("Summarize=sim:a", "bad capability"),
        ("9lives=sim:a", "bad capability"),
        ("a" * 33 + "=sim:a", "bad capability"),
        (",code=sim:a", "bad capability"),
        ("code=nonsense", "unknown model"),
    ],
)
def test_bad_model_args(arg, match):
    with pytest.raises(ConfigError, match=match):
        parse_model_args([arg])


def test_one_capability_two_models_is_an_error():
    with pytest.raises(ConfigError, match="'code' is given to"):
        parse_model_args(["code=sim:a", "code=sim:b"])


def test_standard_capabilities():
    assert set(STANDARD_CAPABILITIES) >= {"summarize", "code", "analysis", "math", "general"}
    assert len(set(STANDARD_CAPABILITIES)) == len(STANDARD_CAPABILITIES) == 11 and "join" in STANDARD_CAPABILITIES


def test_from_args_loads_each_model_once():
    loaded = []

    def loader(spec):
        loaded.append(spec.canonical())
        return load_model(spec)

    reg = ModelRegistry.from_args(
        ["summarize=sim:a?ctx=100", "code=sim:b", "analysis=sim:a?ctx=100"], loader=loader
    )
    assert loaded == ["sim:a?ctx=100", "sim:b"]
    assert reg.model_for("summarize") is reg.model_for("analysis")
    assert reg.model_for("code").name == "b"
    assert reg.capabilities() == ("summarize", "analysis", "code")
    assert reg.infos() == [
        ModelInfo("a", ("summarize", "analysis"), 100, 0.0, reg.model_for("summarize").model_hash, "sim"),
        ModelInfo("b", ("code",), 4096, 0.0, reg.model_for("code").model_hash, "sim"),
    ]
    assert reg.model_for("summarize").model_hash != reg.model_for("code").model_hash


def test_capability_missing():
    reg = ModelRegistry.from_args(["code=sim:a"])
    with pytest.raises(CapabilityMissing) as info:
        reg.model_for("math")
    assert info.value.code == "capability_missing"


def test_duplicate_names_are_rejected():
    reg = ModelRegistry()
    reg.add(SimulatedModel("x"), ["code"])
    with pytest.raises(ConfigError, match="two models are named"):
        reg.add(SimulatedModel("x"), ["math"])
    with pytest.raises(ConfigError, match="already have a model"):
        reg.add(SimulatedModel("y"), ["code"])


def test_failed_load_closes_loaded_models():
    closed = []

    class Closable(SimulatedModel):
        def close(self):
            closed.append(self.name)

    def loader(spec):
        if spec.target == "bad":
            raise ModelNotFound("bad")
        return Closable(spec.target)

    with pytest.raises(ModelNotFound):
        ModelRegistry.from_args(["code=sim:ok", "math=sim:bad"], loader=loader)
    assert closed == ["ok"]


def test_warm_up_measures_and_observe_updates():
    reg = ModelRegistry()
    reg.add(SimulatedModel("s", tokens_per_second=400, reply_words=10), ["general"])
    reg.add(SimulatedModel("tiny", context_size=2), ["math"])  # warm-up prompt overflows
    reg.warm_up()
    speeds = {i.name: i.tokens_per_second for i in reg.infos()}
    assert 200 < speeds["s"] <= 400
    assert speeds["tiny"] == 0.0
    reg.observe("s", Completion("x", 1, 100, 1.0, "stop"))
    assert reg.infos()[0].tokens_per_second < speeds["s"]
    with pytest.raises(ModelNotFound):
        reg.observe("nobody", Completion("x", 1, 100, 1.0, "stop"))


def test_parse_spec_used_by_registry_is_the_same():
    (item,) = parse_model_args(["code=sim:a?tps=5"])
    assert item.spec == parse_spec("sim:a?tps=5")
