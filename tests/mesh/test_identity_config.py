import os

import pytest

from hivemesh import config
from hivemesh.errors import ConfigError, IdentityError
from hivemesh.mesh import identity


def test_identity_persists_with_mode_0600(tmp_path):
    path = tmp_path / "d" / "peer.key"
    first = identity.load_or_create(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = identity.load_or_create(path)
    assert identity.peer_id_of(first) == identity.peer_id_of(again)


def test_world_readable_identity_refused(tmp_path):
    path = tmp_path / "peer.key"
    identity.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        identity.load(path)


@pytest.mark.parametrize("text", ["", "hello", "hivemesh-identity-v1\nzz", "hivemesh-identity-v1\nabcd"])
def test_corrupt_identity_is_a_clear_error(tmp_path, text):
    path = tmp_path / "peer.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(IdentityError, match="corrupt"):
        identity.load(path)


def test_settings_precedence_flags_over_env_over_file(tmp_path):
    toml = tmp_path / "h.toml"
    toml.write_text('advert_interval = 5.0\nslots = 3\nbootstrap = ["/ip4/1.2.3.4/tcp/1/p2p/x"]\n')
    env = {"HIVEMESH_SLOTS": "4", "HIVEMESH_GATEWAY": "yes"}
    s = config.load({"advert_interval": 1.0, "slots": None}, toml, env)
    assert s.advert_interval == 1.0 and s.slots == 4 and s.gateway is True
    assert s.bootstrap == ["/ip4/1.2.3.4/tcp/1/p2p/x"]


def test_unknown_keys_are_errors(tmp_path):
    toml = tmp_path / "h.toml"
    toml.write_text("advert_intervall = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'advert_intervall'"):
        config.load({}, toml, {})
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        config.load({}, None, {"HIVEMESH_COLOUR": "red"})


def test_bad_values_name_the_setting():
    with pytest.raises(ConfigError, match="'slots' from env"):
        config.load({}, None, {"HIVEMESH_SLOTS": "many"})
    with pytest.raises(ConfigError, match="not valid TOML"):
        bad = config.Path("/tmp/hivemesh-bad.toml")
        bad.write_text("= = =")
        config.load({}, bad, {})
