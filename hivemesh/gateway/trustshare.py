"""The gateways' shared trust record: the thin shell between a gateway's
``TrustBook`` and the store the gateways share.

Each check outcome the book notes is written to the store's ``trust`` hash
with the pure ``trust.apply``, compare-and-swap (read the record, apply,
write it only if no other gateway wrote it meanwhile, else again), so two
gateways' outcomes for one worker both count. Every ``REFRESH_S`` (and right
after an outcome) the shell reads all records back into the book: a worker
trusted through one gateway is trusted by all, and a worker banned by one is
banned by all (``on_ban``, once per worker here).

The store slow or gone: outcomes wait in order and are written once it
answers; records last read more than ``MAX_AGE_S`` ago are not relied on,
the book is ``blind`` and every output is checked (falling back to checking,
never to trusting).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

import trio

from hivemesh.errors import DecodeError, HivemeshError, StoreError
from hivemesh.gateway.store import JobStore
from hivemesh.gateway.trust import Outcome, PeerRecord, TrustBook, apply
from hivemesh.mesh import wire

log = logging.getLogger(__name__)

REFRESH_S = 1.0
MAX_AGE_S = 10.0  # records read longer ago than this are not relied on: every output checked
SWAP_TRIES = 20  # lost races on one record before the write waits for the next round
MAX_PENDING = 10_000  # outcomes kept for a store that does not answer (the oldest go first)


class SharedTrust:
    def __init__(self, store: JobStore, book: TrustBook, *, on_ban: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, refresh_s: float = REFRESH_S,
                 max_age_s: float = MAX_AGE_S) -> None:
        self.store, self.book, self.clock = store, book, clock
        self.refresh_s, self.max_age_s = refresh_s, max_age_s
        self.on_ban: Callable[[str], None] = on_ban or (lambda peer: None)
        book.shared = True
        self.pending: list[tuple[str, Outcome]] = []  # taken from the book, not written yet
        self.read_at: float | None = None  # when the records were last read
        self.bans_seen: set[str] = set()
        self.stats: Counter[str] = Counter()
        self._wake = trio.Event()
        self._failing = False

    # --- blocking: store trips (run on a thread) ----------------------------------------

    def write(self, peer: str, outcome: Outcome) -> PeerRecord:
        """Apply one outcome to the stored record, compare-and-swap; the record written."""
        for _ in range(SWAP_TRIES):
            old = self.store.trust_record(peer)
            new = apply(self._decode(peer, old), outcome, self.book.settings)
            if self.store.swap_trust_record(peer, old, wire.encode(new)):
                return new
            self.stats["swap_races"] += 1
        raise StoreError(f"trust record of {peer[-8:]} changed {SWAP_TRIES} times while being written")

    def read(self) -> dict[str, PeerRecord]:
        return {peer: self._decode(peer, raw) for peer, raw in self.store.trust_records().items()}

    def _decode(self, peer: str, raw: bytes | None) -> PeerRecord:
        """A stored record; a missing or unreadable one counts as a new peer's (checked on every output)."""
        if raw is None:
            return PeerRecord()
        try:
            return wire.decode(PeerRecord, raw)
        except DecodeError as exc:
            self.stats["bad_records"] += 1
            log.warning("trust record of %s unreadable (%s); counted as new", peer[-8:], exc)
            return PeerRecord()

    # --- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
                if self._failing:
                    log.info("shared trust record reachable again")
                self._failing = False
            except HivemeshError as exc:
                self.stats["sync_failed"] += 1
                if not self._failing:
                    log.warning("shared trust record not reached (%s); checking every output until it is", exc)
                self._failing = True
            self.look()
            with trio.move_on_after(self.refresh_s):
                await self._wake.wait()
            self._wake = trio.Event()

    def wake(self) -> None:
        """Write the book's new outcomes now rather than at the next refresh."""
        self._wake.set()

    async def sync(self) -> None:
        """Write the outcomes noted since the last round, in order, then read every record."""
        self.pending.extend(self.book.take_outcomes())
        del self.pending[:-MAX_PENDING]
        while self.pending:
            peer, outcome = self.pending[0]
            record = await trio.to_thread.run_sync(self.write, peer, outcome)
            self.pending.pop(0)
            self.stats["outcomes_written"] += 1
            self._saw(peer, record)
        records = await trio.to_thread.run_sync(self.read)
        self.read_at = self.clock()
        for peer, outcome in self.book.outcomes:  # noted while reading: not in the store yet
            records[peer] = apply(records.get(peer) or PeerRecord(), outcome, self.book.settings)
        self.book.records = records
        for peer, record in records.items():
            self._saw(peer, record)

    def look(self) -> None:
        """Blind (every output checked) while the records are stale."""
        self.book.blind = self.read_at is None or self.clock() - self.read_at > self.max_age_s

    def _saw(self, peer: str, record: PeerRecord) -> None:
        if record.banned and peer not in self.bans_seen:
            self.bans_seen.add(peer)
            self.on_ban(peer)
