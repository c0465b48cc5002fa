"""The mesh view: live peers as known from verified adverts alone. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from hivemesh.errors import AdvertRejected
from hivemesh.mesh import advert as adv
from hivemesh.mesh.advert import Advert

MAX_REMEMBERED_SEQS = 10_000
#: adverts from one origin closer together than this share of their TTL are
#: dropped: with TTL = 2.5 intervals that is a quarter interval, 4x the honest rate.
#: The TTL is the shorter of the held advert's and the new one's (``min_gap``): a peer
#: whose mesh grows stretches its period, so its next advert carries a TTL several
#: times that of the one before, though it comes one old period later
MIN_GAP_OF_TTL = 0.1
#: a peer whose advert lapsed while its connection to us is open stays in the view this
#: share of the advert's TTL longer (one more period at TTL = 2.5 periods): its next advert
#: may be queued behind a saturated machine, and a connection it lost would have closed
LATE_GRACE_OF_TTL = 0.4
#: a capability offered within this many seconds counts as the mesh's, even
#: when every peer offering it is gone right now (churn: replacements join)
RECENT_CAPABILITY_S = 60.0


@dataclass(frozen=True)
class PeerEntry:
    advert: Advert
    received: float  # local clock when the newest advert arrived
    deadline: float  # the peer leaves the view after this, unless a new advert comes

    @property
    def peer_id(self) -> str:
        return self.advert.peer_id


def min_gap(held: Advert, new: Advert) -> float:
    """The least time between two accepted adverts of one origin: a share of the
    shorter TTL. The new advert's TTL alone would refuse an honest peer whose
    period grew more than fourfold since its last advert (a peer joining a mesh
    of 100 on a budget of ~1/s adverts at a 10 s period, then at 60 s: its next
    advert, 10 s later, would need 15 s), and every receiver would drop it when
    the old, short TTL ran out, until its advert after that: ~45 s out of every
    view. The shorter TTL gives a flooder nothing: it could send short TTLs anyway."""
    return min(held.ttl, new.ttl) * MIN_GAP_OF_TTL


def too_soon(held: PeerEntry, new: Advert, now: float) -> bool:
    """Whether ``new`` follows the held advert too closely, both as it arrived and as
    its sender dated it. A late copy of one advert (a neighbour replays its recent
    messages to a peer that just connected, or a loaded machine delivers it late)
    followed by the next on time arrives in a moment, yet the two were sent a whole
    period apart: refusing the second left the peer on the first one's TTL alone.
    A flooder gains a burst at most: its dates cannot run ahead of our clock by
    more than ``MAX_CLOCK_SKEW_S``."""
    gap = min_gap(held.advert, new)
    return now - held.received < gap and new.time - held.advert.time < gap


@dataclass(frozen=True)
class ViewEvent:
    kind: str  # "joined" | "updated" | "rejected" | "own" | "duplicate"
    peer_id: str = ""
    reason: str = ""


class MeshView:
    """Peers by id, fed by ``offer`` (raw gossip) or ``apply`` (a trusted advert)."""

    def __init__(self, self_id: str = "") -> None:
        self.self_id = self_id
        self.peers: dict[str, PeerEntry] = {}
        self.rejected: Counter[str] = Counter()
        self._last_seq: dict[str, int] = {}
        self._offered_at: dict[str, float] = {}  # capability -> when an advert last offered it
        self._heard_at: dict[str, float] = {}  # peer -> when its newest advert arrived (kept past expiry)

    def offer(self, raw: bytes, now: float) -> ViewEvent:
        """Verify a gossiped advert and apply it; rejections are counted."""
        try:
            advert = adv.verify(raw, now)
        except AdvertRejected as exc:
            self.rejected[exc.reason] += 1
            return ViewEvent("rejected", reason=exc.reason)
        if advert.peer_id == self.self_id:
            return ViewEvent("own", advert.peer_id)
        last = self._last_seq.get(advert.peer_id)
        if last is not None and advert.seq == last:
            return ViewEvent("duplicate", advert.peer_id)  # gossip echo of what we hold
        if last is not None and advert.seq < last:
            self.rejected["replay"] += 1
            return ViewEvent("rejected", advert.peer_id, "replay")
        entry = self.peers.get(advert.peer_id)
        if entry is not None and too_soon(entry, advert, now):
            self.rejected["rate"] += 1  # an honest peer adverts once per interval (ttl / 2.5)
            return ViewEvent("rejected", advert.peer_id, "rate")
        return self.apply(advert, now)

    def apply(self, advert: Advert, now: float) -> ViewEvent:
        known = advert.peer_id in self.peers
        self.peers[advert.peer_id] = PeerEntry(advert, now, now + advert.ttl)
        self._remember_seq(advert.peer_id, advert.seq)
        for capability in advert.capabilities:
            self._offered_at[capability] = now
        self._heard_at.pop(advert.peer_id, None)  # re-inserted: the dict stays oldest first
        self._heard_at[advert.peer_id] = now
        if len(self._heard_at) > MAX_REMEMBERED_SEQS:
            del self._heard_at[next(iter(self._heard_at))]
        return ViewEvent("updated" if known else "joined", advert.peer_id)

    def expire(self, now: float, connected: Collection[str] = ()) -> list[str]:
        """Drop peers whose adverts lapsed; one we hold an open connection to
        (``connected``) is late rather than gone and keeps its place a little longer
        (``LATE_GRACE_OF_TTL``). A dead peer's connection closes with it."""
        gone = [pid for pid, e in self.peers.items()
                if e.deadline < now and not (pid in connected and now <= e.deadline + e.advert.ttl * LATE_GRACE_OF_TTL)]
        for pid in gone:
            del self.peers[pid]
        return gone

    def remove(self, peer_id: str) -> bool:
        return self.peers.pop(peer_id, None) is not None

    def live(self) -> list[PeerEntry]:
        return sorted(self.peers.values(), key=lambda e: e.peer_id)

    def with_capability(self, capability: str) -> list[PeerEntry]:
        return [e for e in self.live() if capability in e.advert.capabilities]

    def capability_index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for entry in self.live():
            for cap in sorted(entry.advert.capabilities):
                index.setdefault(cap, []).append(entry.peer_id)
        return index

    def capabilities(self) -> set[str]:
        return set(self.capability_index())

    def recent_capabilities(self, now: float, within: float = RECENT_CAPABILITY_S) -> set[str]:
        """What the mesh offers now, and what some peer offered ``within``
        seconds ago (its peers may be restarting, or replaced)."""
        return self.capabilities() | {c for c, t in self._offered_at.items() if now - t <= within}

    def heard_within(self, now: float, within: float) -> int:
        """Peers whose adverts arrived in the last ``within`` seconds, expired or not."""
        return sum(1 for t in self._heard_at.values() if now - t <= within)

    def gateway_eligible(self) -> list[PeerEntry]:
        return [e for e in self.live() if "gateway" in e.advert.roles]

    def _remember_seq(self, peer_id: str, seq: int) -> None:
        self._last_seq[peer_id] = seq
        if len(self._last_seq) > MAX_REMEMBERED_SEQS:
            stale = [p for p in self._last_seq if p not in self.peers]
            for p in stale[: len(self._last_seq) - MAX_REMEMBERED_SEQS]:
                del self._last_seq[p]
