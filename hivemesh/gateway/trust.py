"""Which outputs to check, and what a check's verdict leads to. Pure.

Per producer a ``PeerRecord``: how many of its checked outputs passed and how
many failed (confirmed by a third opinion), its streak of passes, its last
outcomes and whether it is banned. ``apply(record, outcome, settings)`` is the
one rule that moves a record; a ``TrustBook`` holds the records a gateway
knows and makes the decisions from them. The gateways share the records
through their store (``gateway.trustshare`` is the thin shell that reads them
and writes each outcome with ``apply`` atomically); the book only notes each
outcome in ``outcomes`` for it.

The hook is one call per finished stage:

    if book.should_check(producer):            # before the output is used downstream
        checker = pick_checker(candidates, producer, first=None, rnd)
        first = <CheckStatement from call_check(checker)>
        decision = book.first_verdict(producer, checker, first.accepted)
        if decision.third_opinion:
            third = pick_checker(candidates, producer, first=checker, rnd)
            decision = book.third_verdict(producer, checker, <third's verdict>)
        apply decision: penalize / ban / recompute (and what depended on it)

Sampling: a new peer (fewer than ``new_peer_checks`` passed checks) is
checked on every output; a trusted one on a random ``trusted_share``
(5% by default). A book that cannot read the shared records (``blind``: the
store slow or gone) treats every peer as new: it falls back to checking,
never to trusting. A confirmed failure makes a peer new again: every output
checked until it has ``new_peer_checks`` passes in a row. A failed check is
not believed at once: a third peer with the same weights checks the same
output. Two rejections make a confirmed failure: the producer is charged
``wrong_output``, the output is recomputed elsewhere, and a producer with
``ban_failures`` confirmed failures among its last ``ban_window`` checked
outputs is banned (for good, in the shared record). A third opinion that
accepts clears the producer and charges the first checker ``false_check``.
With no third checker (``unconfirmed``) the output is recomputed, no one is
charged, and the producer is new again (every output checked).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from hivemesh.mesh.wire import Message

Outcome = Literal["passed", "failed", "unconfirmed"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "unconfirmed")


@dataclass(frozen=True)
class TrustSettings:
    new_peer_checks: int = 20
    trusted_share: float = 0.05
    ban_failures: int = 3
    ban_window: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.trusted_share <= 1.0:
            raise ValueError("trusted_share is a share, 0..1")
        if self.new_peer_checks < 0 or not 1 <= self.ban_failures <= self.ban_window:
            raise ValueError("new_peer_checks >= 0, 1 <= ban_failures <= ban_window")


@dataclass(frozen=True)
class PeerRecord(Message):
    """What the gateways know of one producer's checked outputs (stored as msgpack)."""

    MAX_BYTES: ClassVar[int] = 1024
    passed: int = 0
    failed: int = 0  # confirmed by a third opinion
    streak: int = 0  # passes since the last confirmed failure (or unconfirmed rejection)
    recent: tuple[bool, ...] = ()  # outcomes of its last checks, oldest first (True: failed)
    banned: bool = False

    @property
    def checked(self) -> int:
        return self.passed + self.failed


def apply(record: PeerRecord, outcome: Outcome, settings: TrustSettings) -> PeerRecord:
    """``record`` after one more check outcome of its producer."""
    if outcome == "passed":
        return replace(record, passed=record.passed + 1, streak=record.streak + 1,
                       recent=_remember(record.recent, False, settings))
    if outcome == "failed":
        recent = _remember(record.recent, True, settings)
        return replace(record, failed=record.failed + 1, streak=0, recent=recent,
                       banned=record.banned or sum(recent) >= settings.ban_failures)
    if outcome == "unconfirmed":
        return replace(record, streak=0)
    raise ValueError(f"unknown check outcome {outcome!r}")


def _remember(recent: tuple[bool, ...], failed: bool, settings: TrustSettings) -> tuple[bool, ...]:
    return (*recent, failed)[-settings.ban_window:]


@dataclass(frozen=True)
class Decision:
    use_output: bool  # the output may go downstream / to the client
    third_opinion: bool = False  # ask another checker before deciding
    recompute: bool = False  # run the stage again elsewhere (and what depended on it)
    penalize: tuple[tuple[str, str], ...] = ()  # (peer, offence) for the local reputation
    ban: tuple[str, ...] = ()


@dataclass
class TrustBook:
    settings: TrustSettings = field(default_factory=TrustSettings)
    rnd: random.Random = field(default_factory=random.Random)
    records: dict[str, PeerRecord] = field(default_factory=dict)
    checks_asked: int = 0
    #: the shared records cannot be read now: every peer counts as new (checked on every output)
    blind: bool = False
    #: note outcomes in ``outcomes`` for a shared record (``gateway.trustshare`` turns it on)
    shared: bool = False
    #: (peer, outcome) noted since the shell last took them (``take_outcomes``), oldest first
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)

    def record(self, peer: str) -> PeerRecord:
        return self.records.get(peer) or PeerRecord()

    def is_new(self, peer: str) -> bool:
        return self.blind or self.record(peer).streak < self.settings.new_peer_checks

    def should_check(self, producer: str) -> bool:
        """Check this output? Every one of a new peer's, a sample of a trusted peer's."""
        check = self.is_new(producer) or self.rnd.random() < self.settings.trusted_share
        self.checks_asked += check
        return check

    def first_verdict(self, producer: str, checker: str, accepted: bool) -> Decision:
        if accepted:
            self._note(producer, "passed")
            return Decision(use_output=True)
        return Decision(use_output=False, third_opinion=True)

    def third_verdict(self, producer: str, first_checker: str, accepted: bool) -> Decision:
        """The tie-break after ``first_checker`` rejected the output."""
        if accepted:
            self._note(producer, "passed")
            return Decision(use_output=True, penalize=((first_checker, "false_check"),))
        record = self._note(producer, "failed")  # under watch again: every output checked until a new record
        return Decision(use_output=False, recompute=True, penalize=((producer, "wrong_output"),),
                        ban=(producer,) if record.banned else ())

    def unconfirmed(self, producer: str) -> None:
        """A rejection no third checker could confirm (only one other peer serves
        the weights): nobody is charged, but the producer is watched again, every
        output checked until a new record (an occasional liar with a single
        checker would otherwise earn trust between its rejected lies)."""
        self._note(producer, "unconfirmed")

    def _note(self, peer: str, outcome: Outcome) -> PeerRecord:
        record = self.records[peer] = apply(self.record(peer), outcome, self.settings)
        if self.shared:
            self.outcomes.append((peer, outcome))
        return record

    def take_outcomes(self) -> list[tuple[str, Outcome]]:
        """The outcomes noted since the last call (for the shared record), oldest first."""
        taken, self.outcomes = self.outcomes, []
        return taken


def pick_checker(candidates: Iterable[str], producer: str, first: str | None,
                 rnd: random.Random, book: TrustBook | None = None) -> str | None:
    """A checker among peers serving the same weights: never the producer nor
    the first checker; trusted peers (by ``book``) preferred; None if none."""
    pool = sorted(p for p in set(candidates) if p not in (producer, first))
    if book is not None:
        trusted = [p for p in pool if not book.is_new(p) and book.record(p).failed == 0]
        pool = trusted or pool
    return rnd.choice(pool) if pool else None
