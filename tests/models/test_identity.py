"""Pinned model identity: a GGUF file's SHA-256 (cached), its quantisation, and
the pseudo-hash of a simulated model."""

import hashlib
import os

from hivemesh.models import identity
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel


def test_a_file_hash_is_its_sha256_and_is_cached_beside_it(tmp_path):
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"weights" * 1000)
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert identity.file_sha256(weights) == expected
    side = tmp_path / "m.gguf.sha256"
    assert side.read_text().split()[0] == expected
    # a restart (empty memory cache) reads the side file instead of hashing again
    identity._cache.clear()
    fake = "ab" * 32
    stat = weights.stat()
    side.write_text(f"{fake} {stat.st_size} {stat.st_mtime_ns}\n")
    assert identity.file_sha256(weights) == fake


def test_a_changed_file_is_hashed_again(tmp_path):
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"old")
    old = identity.file_sha256(weights)
    weights.write_bytes(b"new weights")
    os.utime(weights, ns=(1, 1))
    assert identity.file_sha256(weights) == hashlib.sha256(b"new weights").hexdigest() != old


def test_a_read_only_folder_still_gives_the_hash(tmp_path):
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"x")
    tmp_path.chmod(0o500)
    try:
        assert identity.file_sha256(weights) == hashlib.sha256(b"x").hexdigest()
    finally:
        tmp_path.chmod(0o700)


def test_quantisation_names_follow_llama_cpp():
    assert identity.quant_name("15") == "Q4_K_M"
    assert identity.quant_name(3) == "Q4_1"
    assert identity.quant_name(None) == "" and identity.quant_name("x") == ""


def test_simulated_models_get_a_deterministic_pseudo_hash():
    a, b = SimulatedModel("m"), SimulatedModel("m")
    assert a.model_hash == b.model_hash and identity.is_model_hash(a.model_hash)
    assert SimulatedModel("m", reply_words=9).model_hash != a.model_hash
    assert SimulatedModel("other").model_hash != a.model_hash
    # speed does not change the text, so not the identity
    assert SimulatedModel("m", latency_s=1.0).model_hash == a.model_hash


def test_the_registry_reports_and_finds_models_by_hash():
    registry = ModelRegistry()
    sim = SimulatedModel("m")
    registry.add(sim, ("general",))
    (info,) = registry.infos()
    assert (info.sha256, info.quant) == (sim.model_hash, "sim")
    assert registry.model_by_hash(sim.model_hash) is sim
    assert registry.model_by_hash("0" * 64) is None and registry.model_by_hash("") is None


def test_the_bundled_models_are_pinned_to_their_files(gemma, smollm2):
    for model, quant in ((gemma, "Q4_K_M"), (smollm2, "Q4_1")):
        assert model.model_hash == hashlib.sha256(model.path.read_bytes()).hexdigest()
        assert model.quant == quant
    assert gemma.model_hash != smollm2.model_hash
