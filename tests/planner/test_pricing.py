"""Claude price table and the cloud-only estimate."""

from __future__ import annotations

import pytest

from hivemesh.errors import ConfigError
from hivemesh.planner.prompts import ANSWER_SYSTEM
from hivemesh.planner.pricing import cloud_only_estimate, cloud_only_tokens, cloud_usd, price


def test_list_prices() -> None:
    assert cloud_usd("claude-sonnet-4-5", 1_000_000, 1_000_000) == pytest.approx(18.0)
    assert cloud_usd("claude-opus-4-1", 1_000_000, 0) == pytest.approx(15.0)
    assert cloud_usd("claude-opus-4-1", 0, 1_000_000) == pytest.approx(75.0)
    assert cloud_usd("claude-haiku-4-5", 2_000, 500) == pytest.approx(0.002 + 0.0025)


def test_dated_and_prefixed_names_resolve() -> None:
    assert price("claude-sonnet-4-5-20250929") == price("claude-sonnet-4-5")
    assert price("claude:claude-haiku-4-5") == price("claude-haiku-4-5")


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no price for model 'gpt-9'"):
        cloud_usd("gpt-9", 1, 1)
    with pytest.raises(ValueError):
        cloud_usd("claude-sonnet-4-5", -1, 0)


def test_cloud_only_estimate_counts_the_whole_input_and_the_system_prompt() -> None:
    job = "Summarise the attached report."  # 30 chars
    expected = -(-(len(ANSWER_SYSTEM) + 30 + 200_000) // 4)
    assert cloud_only_tokens(job, 200_000) == expected > 50_008
    usd = cloud_only_estimate("claude-sonnet-4-5", job, 200_000, 800)
    assert usd == pytest.approx((expected * 3 + 800 * 15) / 1e6)


def test_planning_is_much_cheaper_than_cloud_only() -> None:
    """The point of the mesh: a few hundred planner tokens against the whole document."""
    planned = cloud_usd("claude-sonnet-4-5", 900, 350)
    alone = cloud_only_estimate("claude-sonnet-4-5", "Summarise", 200_000, 800)
    assert planned < alone / 10
