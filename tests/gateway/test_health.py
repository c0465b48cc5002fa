"""A peer whose stages keep breaking (a slowly dying machine) is chosen last,
and its failures stop counting against the subtasks it held."""

from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.health import PeerHealth
from hivemesh.gateway.scheduler import Need, place
from hivemesh.mesh.view import MeshView
from tests.gateway.test_pipeline_core import chain, done, placed, run
from tests.gateway.test_pure_core import add


def test_a_peer_that_broke_two_stages_lately_is_a_suspect_for_a_while():
    health = PeerHealth(window_s=30.0, suspect_after=2)
    health.failed("P", "j1/a/1", 0.0)
    health.failed("P", "j1/a/1", 1.0)  # the same stage twice is one failure
    assert not health.suspect("P", 1.0)
    health.failed("P", "j2/b/1", 2.0)
    assert health.suspect("P", 2.0) and health.suspects(2.0) == {"P"}
    assert not health.suspect("P", 40.0)  # forgotten
    health.failed("Q", "j1/a/2", 0.0)
    health.failed("Q", "j2/a/1", 0.0)
    health.succeeded("Q")  # a stage finished there since
    assert not health.suspect("Q", 1.0)


def test_placement_uses_a_suspect_only_when_nothing_else_can():
    view = MeshView()
    fast, slow = add(view, tps=100.0), add(view, tps=1.0)
    assert place([Need("a", "general")], view).assigned == {"a": fast}
    assert place([Need("a", "general")], view, suspect={fast}).assigned == {"a": slow}
    assert place([Need("a", "general")], view, suspect={fast, slow}).assigned == {"a": fast}


def test_a_suspect_peers_failures_are_no_strikes():
    state = chain()
    state, _ = run(state, done("a", 1, "P", delivered=[("b", "Q", 1)]))
    state, _ = run(state, ps.StreamBroke(1.0, "b", 1, "Q", suspect=True, reason="EOF"), placed(1.0, b="Q2"))
    assert state.sub("b").strikes == 0 and state.sub("b").exclude == {"Q"}
    state, _ = run(state, ps.StreamBroke(2.0, "b", 2, "Q2", reason="EOF"), placed(2.0, b="Q3"))
    assert state.sub("b").strikes == 1
