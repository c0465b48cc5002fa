"""One way to assemble a peer from its roles; what it is now is node state."""

import pytest

from hivemesh.gateway.store import MemoryStore
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.assemble import assemble_peer
from hivemesh.planner.offline import ScriptedPlanner
from tests.gateway.test_pipeline_recovery import THREE


def registry():
    r = ModelRegistry()
    r.add(SimulatedModel("sim", echo=True), ("general",))
    return r


async def test_a_worker_and_gateway_peer_advertises_both_roles_without_touching_its_config():
    config = MeshConfig(generate(), roles=("worker",), gossip=False)
    async with assemble_peer(config, registry=registry(), slots=2, store=MemoryStore(),
                             planner=ScriptedPlanner([THREE])) as peer:
        assert peer.worker is not None and peer.stages is not None and peer.gateway is not None
        advert = peer.node.make_advert(2.0)
        assert advert.roles == ("worker", "gateway") and peer.node.roles == ("worker", "gateway")
        assert config.roles == ("worker",)
        assert [m.name for m in advert.models] == ["sim"] and advert.capacity.slots_total == 2
        peer.gateway._set_role(False)  # its store was lost: it stops advertising the role
        assert peer.node.make_advert(2.0).roles == ("worker",)
    assert config.roles == ("worker",)  # the config is what the peer started with


async def test_a_plain_node_has_no_roles_and_a_half_gateway_is_an_error():
    async with assemble_peer(MeshConfig(generate(), roles=(), gossip=False)) as peer:
        assert peer.worker is None and peer.gateway is None and peer.node.make_advert(2.0).models == ()
    with pytest.raises(ValueError, match="both a store and a planner"):
        async with assemble_peer(MeshConfig(generate()), store=MemoryStore()):
            pass
