"""Which connected peers with no advert in the view are due a ping (plain)."""

from hivemesh.mesh.liveness import SUSPECT_S, UNHEARD_GRACE_S, Unheard

KEEP = 2.0


def test_a_peer_that_never_adverted_is_pinged_after_the_grace_and_again_as_often_while_unheard():
    u = Unheard()
    assert u.due({"client"}, (), 0.0, KEEP) == []
    assert u.due({"client"}, (), UNHEARD_GRACE_S - 1, KEEP) == []
    assert u.due({"client"}, (), UNHEARD_GRACE_S, KEEP) == ["client"]
    assert u.due({"client"}, (), UNHEARD_GRACE_S + 1, KEEP) == []  # its check is under way
    u.done("client", UNHEARD_GRACE_S + 1, hung_up=False)  # it answered
    assert u.due({"client"}, (), 2 * UNHEARD_GRACE_S, KEEP) == []
    assert u.due({"client"}, (), 2 * UNHEARD_GRACE_S + 1, KEEP) == ["client"]


def test_a_peer_hung_up_on_for_silence_that_connects_again_is_pinged_after_keep():
    u = Unheard()
    u.busy.add("mute")  # its adverts lapsed: the expiry's check runs
    assert u.due({"mute"}, (), 0.0, KEEP) == []
    u.done("mute", 1.0, hung_up=True)
    assert u.due(set(), (), 1.2, KEEP) == []  # hung up on
    assert u.due({"mute"}, (), 1.5, KEEP) == []  # it dialled back
    assert u.due({"mute"}, (), 1.5 + KEEP, KEEP) == ["mute"]


def test_reconnected_before_the_loop_saw_it_gone_still_counts_from_the_hang_up():
    u = Unheard()
    u.busy.add("mute")
    u.due({"mute"}, (), 0.0, KEEP)
    u.done("mute", 1.0, hung_up=True)
    assert u.due({"mute"}, (), 1.0 + KEEP - 0.1, KEEP) == []
    assert u.due({"mute"}, (), 1.0 + KEEP, KEEP) == ["mute"]


def test_a_heard_peer_is_never_due_and_starts_over_when_it_falls_silent():
    u = Unheard()
    assert u.due({"p"}, (), 0.0, KEEP) == []
    assert u.due({"p"}, {"p"}, UNHEARD_GRACE_S, KEEP) == []  # its advert came
    assert u.due({"p"}, (), UNHEARD_GRACE_S + 1, KEEP) == []  # unheard again: a fresh grace
    assert u.due({"p"}, (), 2 * UNHEARD_GRACE_S + 1, KEEP) == ["p"]


def test_a_suspect_is_forgotten_after_suspect_s():
    u = Unheard()
    u.done("mute", 0.0, hung_up=True)
    assert u.due({"mute"}, (), SUSPECT_S + 1, KEEP) == []  # an ordinary unheard peer now
    assert u.due({"mute"}, (), SUSPECT_S + 1 + KEEP, KEEP) == []
    assert u.due({"mute"}, (), SUSPECT_S + 1 + UNHEARD_GRACE_S, KEEP) == ["mute"]


def test_it_forgets_peers_that_are_gone():
    u = Unheard()
    u.busy.add("gone")
    u.done("gone", 1.0, hung_up=True)
    u.due({"other"}, (), 2.0, KEEP)
    assert set(u.since) == {"other"} and u.busy == set()
