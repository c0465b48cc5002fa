"""How often a node short of peers asks its bootstraps (``dialer.px_source``):
a mesh smaller than ``target_peers`` is short for good, and must not redial
its bootstrap every round."""

from hivemesh.mesh.dialer import ALONE_GAP_ROUNDS, BOOTSTRAP_REFRESH_ROUNDS, bootstrap_gap, px_source
from tests.meshutil import peer_config, start, start_bootstrap, wait_until


def asks(connected: int, rounds: int, fruitful: bool) -> list[int]:
    """The rounds a node with ``connected`` of 8 peers asks the bootstraps, each
    ask fruitful (naming a peer it lacked) or not."""
    asked, last, fruitless = [], None, 0
    for r in range(rounds):
        if px_source(connected, 8, r, fruitless, None if last is None else r - last) == "bootstrap":
            asked.append(r)
            last, fruitless = r, 0 if fruitful else fruitless + 1
    return asked


def test_a_short_node_asks_every_round_while_the_bootstraps_name_new_peers():
    assert asks(3, 10, fruitful=True) == list(range(10))


def test_fruitless_asks_space_out_to_the_refresh_period():
    asked = asks(7, 400, fruitful=False)
    assert asked[:6] == [0, 2, 6, 14, 30, 62]
    gaps = [b - a for a, b in zip(asked, asked[1:])]
    assert max(gaps) == BOOTSTRAP_REFRESH_ROUNDS and gaps[-1] == BOOTSTRAP_REFRESH_ROUNDS
    assert len(asked) < 12  # every round: 400


def test_a_node_with_no_connection_keeps_asking_often():
    assert bootstrap_gap(50, 0) == ALONE_GAP_ROUNDS
    asked = asks(0, 40, fruitful=False)
    assert max(b - a for a, b in zip(asked, asked[1:])) == ALONE_GAP_ROUNDS


def test_the_first_round_always_asks():
    assert px_source(0, 8, 0) == px_source(5, 8, 0, fruitless=9) == "bootstrap"


async def test_a_small_mesh_stops_redialling_its_bootstrap(nursery):
    """Three peers with the default target of 8 connections: once each has
    the others, the bootstrap's answers are no news and its asks space out,
    while the mesh stays formed."""
    boot = await start_bootstrap(nursery)
    addr = boot.node.full_addrs()[0]
    peers = [await start(nursery, peer_config([addr])) for _ in range(3)]
    ids = {p.node.peer_id for p in peers}
    await wait_until(lambda: all(ids - {p.node.peer_id} <= set(p.node.view.peers) for p in peers), 30, "views")
    await wait_until(lambda: all(p.node.dialer.fruitless >= 3 for p in peers), 40, "fruitless asks to pile up")
    assert all(ids - {p.node.peer_id} <= set(p.node.connected_peers()) for p in peers)
