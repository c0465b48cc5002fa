"""Private swarms: peers without the swarm key can neither connect, gossip, nor submit."""

import os

import pytest
import trio

from hivemesh.config import Settings
from hivemesh.errors import IdentityError
from hivemesh.mesh import swarmkey
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.peer.inprocess import start_node
from tests.meshutil import INTERVAL, peer_config, sees_all, start, wait_until

KEY, OTHER = swarmkey.generate(), swarmkey.generate()


async def private_mesh(nursery, n=3):
    boot = await start_node(nursery, MeshConfig(generate(), gossip=False, advertise=False, roles=(), psk=KEY))
    addr = [boot.node.full_addrs()[0]]
    peers = [await start(nursery, peer_config(addr, psk=KEY)) for _ in range(n)]
    await wait_until(lambda: sees_all([p.node for p in peers]), 15, "the private mesh")
    return addr, peers


@pytest.mark.parametrize("outsider_key", [None, OTHER], ids=["no key", "wrong key"])
async def test_outsiders_cannot_join_or_gossip(nursery, outsider_key):
    addr, peers = await private_mesh(nursery)
    outsider = await start(nursery, peer_config(addr, psk=outsider_key))
    member_addr = peers[0].node.full_addrs()[0]
    intruder = await start(nursery, peer_config([member_addr], psk=outsider_key))
    await trio.sleep(6 * INTERVAL)
    for stranger in (outsider, intruder):
        assert not stranger.node.connected_peers()
        assert set(stranger.node.view.peers) <= {stranger.node.peer_id}
    for p in peers:
        assert outsider.node.peer_id not in p.node.view.peers and intruder.node.peer_id not in p.node.view.peers
    # and a member that is given the key later joins
    member = await start(nursery, peer_config([member_addr], psk=KEY))
    await wait_until(lambda: sees_all([p.node for p in peers] + [member.node]), 15, "the late member")


async def test_outsider_cannot_submit(nursery):
    from hivemesh.client import Client
    from hivemesh.errors import MeshError

    addr, _ = await private_mesh(nursery, 1)
    with pytest.raises(MeshError, match="could not reach any bootstrap"):
        await Client(addr, advert_interval=INTERVAL, join_timeout=3).submit_async("hello")


def test_swarm_key_file_checks(tmp_path):
    path = tmp_path / "swarm.key"
    swarmkey.save(KEY, path)
    assert swarmkey.load(path) == KEY and Settings(swarm_key=path).psk() == KEY
    os.chmod(path, 0o640)
    with pytest.raises(IdentityError, match="group or others"):
        swarmkey.load(path)
    bad = tmp_path / "bad.key"
    bad.write_text("/key/swarm/psk/1.0.0/\n/base16/\nnothex\n")
    bad.chmod(0o600)
    with pytest.raises(IdentityError, match="64 hex"):
        swarmkey.load(bad)
    with pytest.raises(IdentityError, match="does not exist"):
        swarmkey.load(tmp_path / "missing.key")
