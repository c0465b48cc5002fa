"""Private swarms: a libp2p pre-shared key (PSK) file.

Format (the one go-libp2p and ipfs use)::

    /key/swarm/psk/1.0.0/
    /base16/
    <64 hex digits>

A peer without the key cannot complete a connection to the swarm: every
byte on the wire is encrypted with it before the Noise handshake starts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hivemesh.errors import IdentityError
from hivemesh.mesh.identity import check_private_file

HEADER = ("/key/swarm/psk/1.0.0/", "/base16/")


def generate() -> str:
    return secrets.token_hex(32)


def save(key_hex: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join([*HEADER, key_hex]) + "\n")


def load(path: Path) -> str:
    """The key as 64 hex digits; a clear error for a missing, open or bad file."""
    if not path.exists():
        raise IdentityError(f"swarm key file {path} does not exist (make one with: hivemesh keygen --swarm-key {path})")
    check_private_file(path, "swarm key file")
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) != 3 or tuple(lines[:2]) != HEADER:
        raise IdentityError(f"swarm key file {path} is not a libp2p PSK file ({HEADER[0]} {HEADER[1]} <hex>)")
    key = lines[2].lower()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise IdentityError(f"swarm key file {path} must hold 64 hex digits")
    return key
