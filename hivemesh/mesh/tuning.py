"""py-libp2p settings chosen at our boundary (never by editing py-libp2p).

Yamux window updates: py-libp2p 0.8.1 by default (``PY_YAMUX_RELEASE_ON_READ=1``)
answers every read on a stream with a WINDOW_UPDATE frame for the bytes read,
so each gossip RPC and each stream message a peer receives costs a frame back
(built, encrypted, written): in an idle mesh of peer processes these frames
were about a tenth of each peer's CPU. With the variable at 0 it grants credit
as go-yamux does, in one update once half the receive window is consumed:
the same flow control, fewer frames. py-libp2p reads the variable at call
time; a value already in the environment is kept.
"""

from __future__ import annotations

import os

LIBP2P_ENV = {"PY_YAMUX_RELEASE_ON_READ": "0"}


def apply() -> None:
    """Set our py-libp2p settings (idempotent); call before the first connection."""
    for name, value in LIBP2P_ENV.items():
        os.environ.setdefault(name, value)
