from hivemesh.mesh.reputation import Reputation


def test_offences_accumulate_into_a_ban_that_decays():
    rep = Reputation(half_life_s=100.0)
    assert not rep.penalize("p", "bad_output", 0.0)  # -5
    assert not rep.penalize("p", "bad_output", 0.0)  # -10: at the line, not below it
    assert not rep.banned("p", 0.0)
    assert rep.penalize("p", "malformed", 0.0)  # -12: banned now
    assert rep.banned("p", 0.0) and rep.banned_set(0.0) == {"p"}
    assert rep.score("p", 200.0) == -3.0 and not rep.banned("p", 200.0)  # two half-lives later
    assert rep.score("q", 5.0) == 0.0 and not rep.banned("q", 5.0)


def test_penalize_reports_the_crossing_once():
    rep = Reputation()
    crossings = [rep.penalize("p", "bad_signature", 0.0) for _ in range(6)]
    assert crossings.count(True) == 1
