"""Signed adverts: what a peer tells the mesh about itself, and their checks.

A ``SignedAdvert`` carries the advert's encoded bytes and an Ed25519 signature
over exactly those bytes, so the canonical form is the one that was signed.
``verify`` is pure: it returns the advert or raises ``AdvertRejected`` with a
short reason used as a counter key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from hivemesh.errors import AdvertRejected, DecodeError, FrameTooLarge
from hivemesh.mesh import wire

HASH_RE = re.compile(r"[0-9a-f]{64}")
TOPIC = "hivemesh/adverts/1"
MAX_ADVERT_BYTES = 8 * 1024
MAX_CLOCK_SKEW_S = 30.0
MAX_TTL_S = 300.0

REASONS = ("oversize", "malformed", "bad_peer_id", "bad_signature", "replay", "expired", "future")


@dataclass(frozen=True)
class ModelAd(wire.Message):
    name: str
    capabilities: tuple[str, ...]
    context_size: int
    tokens_per_second: float
    # pinned identity; absent in adverts from before it (they decode with ""),
    # so those peers are never given a stage pinned to a hash
    sha256: str = ""
    quant: str = ""

    def __post_init__(self) -> None:
        if self.sha256 and not HASH_RE.fullmatch(self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        if len(self.quant) > 32:
            raise ValueError("quant is at most 32 characters")


@dataclass(frozen=True)
class Capacity(wire.Message):
    slots_total: int
    slots_free: int
    queue: int


@dataclass(frozen=True)
class Advert(wire.Message):
    MAX_BYTES = MAX_ADVERT_BYTES

    peer_id: str
    seq: int
    time: float
    expires: float
    addrs: tuple[str, ...]
    models: tuple[ModelAd, ...]
    capacity: Capacity
    roles: tuple[str, ...]  # "worker", "gateway" (gateway-eligible)

    @property
    def ttl(self) -> float:
        return self.expires - self.time

    def model_hash_for(self, capability: str) -> str:
        """The weights this peer advertises for ``capability`` ("" if none or unpinned):
        what a gateway pins in the stage it sends here."""
        return next((m.sha256 for m in self.models if capability in m.capabilities), "")

    def serves(self, capability: str, sha256: str) -> bool:
        """Whether a model here serves ``capability`` with these weights."""
        return any(capability in m.capabilities and m.sha256 == sha256 for m in self.models)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c for m in self.models for c in m.capabilities)


@dataclass(frozen=True)
class SignedAdvert(wire.Message):
    MAX_BYTES = MAX_ADVERT_BYTES + 256

    body: bytes
    sig: bytes


def sign(advert: Advert, keypair: KeyPair) -> bytes:
    body = wire.encode(advert)
    return wire.encode(SignedAdvert(body=body, sig=keypair.private_key.sign(body)))


def verify(raw: bytes, now: float, last_seq: int | None = None) -> Advert:
    """Check a gossiped advert; ``last_seq`` is the newest seq seen from that peer."""
    try:
        signed = wire.decode(SignedAdvert, raw)
        advert = wire.decode(Advert, signed.body)
    except FrameTooLarge as exc:
        raise AdvertRejected("oversize", str(exc)) from None
    except DecodeError as exc:
        raise AdvertRejected("malformed", str(exc)) from None
    _check_signature(advert, signed)
    if last_seq is not None and advert.seq <= last_seq:
        raise AdvertRejected("replay", f"seq {advert.seq} <= {last_seq}")
    if advert.time > now + MAX_CLOCK_SKEW_S or advert.ttl > MAX_TTL_S:
        raise AdvertRejected("future", f"time {advert.time:.0f}, now {now:.0f}")
    if advert.expires <= now or advert.ttl <= 0:
        raise AdvertRejected("expired", f"expired at {advert.expires:.0f}, now {now:.0f}")
    return advert


def _check_signature(advert: Advert, signed: SignedAdvert) -> None:
    try:
        public_key = ID.from_base58(advert.peer_id).extract_public_key()
    except Exception:  # base58/multihash errors come in many types
        public_key = None
    if public_key is None:
        raise AdvertRejected("bad_peer_id", advert.peer_id[:64])
    try:
        ok = public_key.verify(signed.body, signed.sig)
    except Exception:
        ok = False
    if not ok:
        raise AdvertRejected("bad_signature", advert.peer_id)
