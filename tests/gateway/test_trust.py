"""Check sampling and the verdict rules (hivemesh.gateway.trust): pure, no sockets."""

import random

import pytest

from hivemesh.gateway.trust import TrustBook, TrustSettings, pick_checker


def test_a_new_peer_is_checked_on_every_output_until_it_has_a_record():
    book = TrustBook(TrustSettings(new_peer_checks=5, trusted_share=0.0), random.Random(1))
    for _ in range(5):
        assert book.should_check("p")
        assert book.first_verdict("p", "c", accepted=True).use_output
    assert not any(book.should_check("p") for _ in range(100))  # trusted, with a 0% share


def test_a_trusted_peer_is_checked_on_about_its_share():
    book = TrustBook(TrustSettings(new_peer_checks=0, trusted_share=0.05), random.Random(7))
    share = sum(book.should_check("p") for _ in range(10_000)) / 10_000
    assert 0.04 < share < 0.06


def test_a_rejection_asks_a_third_opinion_before_anything_else():
    book = TrustBook()
    first = book.first_verdict("liar", "c1", accepted=False)
    assert not first.use_output and first.third_opinion and not first.penalize and not first.recompute


def test_a_confirmed_failure_costs_reputation_and_recomputes_and_repeated_ones_ban():
    book = TrustBook(TrustSettings(ban_failures=3))
    decisions = [book.third_verdict("liar", "c1", accepted=False) for _ in range(3)]
    assert all(d.recompute and not d.use_output and d.penalize == (("liar", "wrong_output"),) for d in decisions)
    assert [bool(d.ban) for d in decisions] == [False, False, True]


def test_a_contradicted_checker_is_charged_and_the_output_used():
    book = TrustBook()
    d = book.third_verdict("honest", "lying-checker", accepted=True)
    assert d.use_output and d.penalize == (("lying-checker", "false_check"),) and not d.ban
    assert book.record("honest").passed == 1 and book.record("honest").failed == 0


def test_a_checker_is_never_the_producer_nor_the_first_checker():
    rnd = random.Random(3)
    picks = {pick_checker(["a", "b", "c"], "a", "b", rnd) for _ in range(50)}
    assert picks == {"c"}
    assert pick_checker(["a"], "a", None, rnd) is None


def test_settings_are_checked():
    with pytest.raises(ValueError):
        TrustSettings(trusted_share=1.5)


HONEST_FALSE_REJECT = 0.005  # bench/calibrate.py: 0 of 28 honest greedy outputs rejected (README)


def run_mesh(lie_rates: dict[str, float], honest_false_reject: float, subtasks: int, seed: int):
    """Producers among 8 peers; every check by another peer. A liar's output is
    rejected by every checker; an honest output by a checker (and confirmed) at
    ``honest_false_reject`` (an honest output scored as a miss, confirmed)."""
    rnd = random.Random(seed)
    peers = [f"p{i}" for i in range(8)]
    book = TrustBook(TrustSettings(), random.Random(seed + 1))
    banned, first_ban_at, per_peer = set(), {}, {p: 0 for p in peers}
    checked = wrong_delivered = 0
    for _ in range(subtasks):
        producer = rnd.choice([p for p in peers if p not in banned])
        per_peer[producer] += 1
        lie = rnd.random() < lie_rates.get(producer, 0.0)
        if not book.should_check(producer):
            wrong_delivered += lie
            continue
        checked += 1
        bad = lie or rnd.random() < honest_false_reject
        checker = pick_checker([p for p in peers if p not in banned], producer, None, rnd, book)
        decision = book.first_verdict(producer, checker, not bad)
        if decision.third_opinion:
            decision = book.third_verdict(producer, checker, not bad)
        for peer in decision.ban:
            banned.add(peer)
            first_ban_at[peer] = per_peer[peer]
    return banned, first_ban_at, checked, wrong_delivered


def test_liars_are_banned_within_20_subtasks_and_no_honest_peer_over_500_checks():
    liars = {"p0": 1.0, "p1": 1.0, "p2": 0.3}  # two always, one a third of the time
    for seed in range(20):
        banned, at, checked, _ = run_mesh(liars, HONEST_FALSE_REJECT, 6000, seed)
        assert banned == set(liars), seed
        # always-liars: banned on their third checked output; a 30% liar needs
        # three lies, which takes more than 20 subtasks about 3.5% of the time
        assert at["p0"] <= 20 and at["p1"] <= 20 and at["p2"] <= 40, (seed, at)
    honest_checked = 0
    for seed in range(5):
        banned, _, checked, _ = run_mesh({}, HONEST_FALSE_REJECT, 4000, 100 + seed)
        assert banned == set(), seed
        honest_checked += checked
    assert honest_checked >= 500


def test_once_peers_are_trusted_few_outputs_are_checked():
    _, _, checked, _ = run_mesh({}, 0.0, 20_000, 5)
    assert checked / 20_000 < 0.10


def test_an_unconfirmed_rejection_charges_no_one_but_watches_the_producer_again():
    book = TrustBook(TrustSettings(new_peer_checks=3, trusted_share=0.0))
    for _ in range(3):
        book.first_verdict("p", "c", accepted=True)
    assert not book.is_new("p")
    assert book.first_verdict("p", "c", accepted=False).third_opinion
    book.unconfirmed("p")  # no third checker serves the weights
    assert book.is_new("p") and book.record("p").failed == 0 and not any(book.record("p").recent)


def test_a_record_moves_by_outcome_only_and_a_ban_sticks():
    from hivemesh.gateway.trust import PeerRecord, apply

    s = TrustSettings(ban_failures=2, ban_window=3)
    r = PeerRecord()
    r = apply(apply(r, "passed", s), "passed", s)
    assert (r.passed, r.failed, r.streak, r.recent, r.banned) == (2, 0, 2, (False, False), False)
    r = apply(r, "unconfirmed", s)
    assert (r.passed, r.streak, r.recent) == (2, 0, (False, False))
    r = apply(r, "failed", s)
    assert (r.failed, r.recent, r.banned) == (1, (False, False, True), False)
    r = apply(apply(r, "passed", s), "passed", s)
    assert r.recent == (True, False, False)  # the window keeps the last three
    r = apply(apply(r, "passed", s), "failed", s)
    assert not r.banned  # one failure in the window
    r = apply(r, "failed", s)
    assert r.banned and apply(apply(r, "passed", s), "passed", s).banned
    with pytest.raises(ValueError):
        apply(r, "maybe", s)  # type: ignore[arg-type]


def test_a_record_round_trips_the_wire_strictly():
    from hivemesh.errors import DecodeError
    from hivemesh.gateway.trust import PeerRecord
    from hivemesh.mesh import wire

    r = PeerRecord(passed=3, failed=1, streak=2, recent=(False, True, False), banned=False)
    assert wire.decode(PeerRecord, wire.encode(r)) == r
    with pytest.raises(DecodeError):
        wire.decode(PeerRecord, b"\x81\xa6passed\xa3six")


def test_a_blind_book_checks_every_output_and_prefers_no_checker():
    book = TrustBook(TrustSettings(new_peer_checks=1, trusted_share=0.0), random.Random(1))
    book.first_verdict("p", "c", accepted=True)
    assert not book.should_check("p")
    book.blind = True  # the shared record cannot be read: fall back to checking, never to trusting
    assert all(book.should_check("p") for _ in range(20))
    assert book.is_new("p")


def test_a_shared_book_notes_its_outcomes_in_order_for_the_store():
    book = TrustBook(TrustSettings(ban_failures=1), shared=True)
    book.first_verdict("a", "c", accepted=True)
    book.first_verdict("b", "c", accepted=False)  # no outcome yet: a third opinion is asked
    book.third_verdict("b", "c", accepted=False)
    book.unconfirmed("a")
    assert book.take_outcomes() == [("a", "passed"), ("b", "failed"), ("a", "unconfirmed")]
    assert book.take_outcomes() == []
    assert TrustBook().outcomes == [] and not TrustBook().shared  # a private book keeps none
