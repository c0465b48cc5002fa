"""A peer's Ed25519 identity, kept on disk so the peer id survives restarts.

File format (text, mode 0600): a header line and the 32-byte seed in hex.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from hivemesh.errors import IdentityError

log = logging.getLogger(__name__)

HEADER = "hivemesh-identity-v1"


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file that the group or others may read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            f"{what} {path} has mode {stat.S_IMODE(mode):o}; it must not be readable by "
            f"group or others (chmod 600 {path})"
        )


def generate() -> KeyPair:
    key = Ed25519PrivateKey.new()
    return KeyPair(key, key.get_public_key())


def save(keypair: KeyPair, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{HEADER}\n{keypair.private_key.to_bytes().hex()}\n")


def load(path: Path) -> KeyPair:
    check_private_file(path, "identity file")
    lines = path.read_text(errors="replace").split()
    if len(lines) != 2 or lines[0] != HEADER:
        raise IdentityError(f"identity file {path} is corrupt (expected a '{HEADER}' header)")
    try:
        seed = bytes.fromhex(lines[1])
        if len(seed) != 32:
            raise ValueError("seed must be 32 bytes")
        key = Ed25519PrivateKey.from_bytes(seed)
    except ValueError as exc:
        raise IdentityError(f"identity file {path} is corrupt: {exc}") from None
    return KeyPair(key, key.get_public_key())


def load_or_create(path: Path) -> KeyPair:
    """Load the identity at ``path``, creating it (0600) when it does not exist."""
    if path.exists():
        return load(path)
    keypair = generate()
    save(keypair, path)
    log.info("created identity %s peer_id=%s", path, peer_id_of(keypair))
    return keypair


def peer_id_of(keypair: KeyPair) -> str:
    return ID.from_pubkey(keypair.public_key).to_base58()
