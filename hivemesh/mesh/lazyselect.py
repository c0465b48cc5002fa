"""Multistream-select without waiting: the protocol is proposed with the first frame.

py-libp2p's ``new_stream`` negotiates before it returns: it sends
``/multistream/1.0.0``, waits for the listener's, sends the protocol id and
waits for its echo, so every stream costs two round trips (and four Noise +
Yamux messages) before its first frame can go out. A stage stream on the job
path paid that per stage (issue 13).

A lazy open (go-libp2p's ``NewMSSelect`` does the same) sends nothing but
the Yamux SYN; the header and the protocol id go out in one write with the
opener's first frame, and the listener's two answers (its header, then the
echo of the protocol, or ``na``) are read and checked before the opener's
first read. py-libp2p's listener reads the proposal line by line with exact
reads, so the frame behind it stays in the stream for the handler. The
opener must write first (every hivemesh protocol does); a protocol the peer
does not speak shows up on the first read, not at the open.
"""

from __future__ import annotations

MULTISTREAM = "/multistream/1.0.0"
NOT_SUPPORTED = "na"
MAX_LINE = 1024  # a multistream line (a protocol id) longer than this is not an answer


class Refused(Exception):
    """The listener does not speak the proposed protocol (or is no multistream listener)."""


def line(text: str) -> bytes:
    """One multistream-select message: varint length, the text, a newline."""
    body = text.encode() + b"\n"
    n, out = len(body), bytearray()
    while True:
        if n >> 7:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        else:
            out.append(n)
            return bytes(out) + body


def proposal(protocol: str) -> bytes:
    """What a lazy opener sends ahead of its first frame."""
    return line(MULTISTREAM) + line(protocol)


def check_answer(header: str, echo: str, protocol: str) -> None:
    """The listener's two lines mean ``protocol`` was selected; else ``Refused``."""
    if header != MULTISTREAM:
        raise Refused(f"not a multistream-select listener (it said {header[:40]!r})")
    if echo == NOT_SUPPORTED:
        raise Refused(f"protocol not supported: {protocol}")
    if echo != protocol:
        raise Refused(f"unexpected answer to {protocol}: {echo[:40]!r}")
