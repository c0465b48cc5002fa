"""The advert interval stretches with the mesh so each peer's gossip load stays bounded. Pure."""

import pytest

from hivemesh import config
from hivemesh.errors import ConfigError
from hivemesh.mesh.cadence import advert_period
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig


def test_small_meshes_advert_at_the_configured_interval():
    assert advert_period(2.0, 1) == advert_period(2.0, 20) == 2.0  # 20 peers at 2 s: 10 adverts/s each


def test_large_meshes_keep_each_peers_share_at_the_budget():
    for peers in (40, 100, 1000):
        period = advert_period(2.0, peers, budget=10.0)
        assert peers / period == pytest.approx(10.0)  # distinct adverts per second reaching each peer


def test_the_interval_has_a_ceiling_and_a_zero_budget_fixes_it():
    assert advert_period(2.0, 100_000, budget=10.0, ceiling=120.0) == 120.0
    assert advert_period(2.0, 100_000, budget=0.0) == 2.0
    assert advert_period(5.0, 10, budget=10.0, ceiling=1.0) == 5.0  # never below the configured interval


def test_a_node_publishes_adverts_valid_for_its_current_period():
    cfg = MeshConfig(generate(), advert_interval=2.0, advert_budget=10.0)
    assert cfg.advert_period(8) == 2.0 and cfg.advert_period(200) == 20.0


def test_bad_cadence_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="advert_budget"):
        config.load({"advert_budget": -1.0}, env={})
    with pytest.raises(ConfigError, match="advert_interval"):
        config.load({"advert_interval": 0.0}, env={})
    assert config.load({"advert_budget": 0.0}, env={}).advert_budget == 0.0
