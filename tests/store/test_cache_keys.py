"""The pure cache-key helpers."""

from __future__ import annotations

import pytest

from hivemesh.gateway.store import normalize_job_text, output_cache_key, plan_cache_key


def test_job_text_is_normalised() -> None:
    assert normalize_job_text("  Summarise\tthe\n\nREPORT  ") == "summarise the report"
    assert normalize_job_text("STRASSE") == normalize_job_text("straße")


def test_plan_key_ignores_case_and_whitespace_only() -> None:
    base = plan_cache_key("Summarise the report", ["doc one"], {"budget": 100})
    assert len(base) == 64 and int(base, 16) >= 0
    assert plan_cache_key("  summarise   THE report\n", ["doc one"], {"budget": 100}) == base
    assert plan_cache_key("Summarise the report", ["doc  one"], {"budget": 100}) != base
    assert plan_cache_key("Summarise the report", ["doc one"], {"budget": 101}) != base
    assert plan_cache_key("Summarise a report", ["doc one"], {"budget": 100}) != base
    assert plan_cache_key("Summarise the report", [], {"budget": 100}) != base


def test_plan_key_input_order_and_boundaries_matter() -> None:
    assert plan_cache_key("j", ["a", "b"], {}) != plan_cache_key("j", ["b", "a"], {})
    assert plan_cache_key("j", ["ab"], {}) != plan_cache_key("j", ["a", "b"], {})


def test_output_key_is_canonical() -> None:
    a = output_cache_key("smollm2", "Say hi", {"temperature": 0.0, "max_tokens": 64})
    b = output_cache_key("smollm2", "Say hi", {"max_tokens": 64, "temperature": 0})
    assert a == b
    assert output_cache_key("smollm2", "Say hi ", {"max_tokens": 64, "temperature": 0}) != a
    assert output_cache_key("gemma3", "Say hi", {"max_tokens": 64, "temperature": 0}) != a
    assert output_cache_key("smollm2", "Say hi", {"max_tokens": 64, "temperature": 0.5}) != a
    as_tuple = output_cache_key("m", "p", {"stop": ("a",)})
    assert as_tuple == output_cache_key("m", "p", {"stop": ["a"]})


def test_keys_are_stable_across_releases() -> None:
    # Changing these breaks every cache in the field: bump the version tag instead.
    assert output_cache_key("m", "p", {}) == output_cache_key("m", "p", {})
    assert plan_cache_key("j", [], {}) == plan_cache_key(" J ", [], {})


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, {1: "int key"}])
def test_non_json_params_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        output_cache_key("m", "p", bad)
