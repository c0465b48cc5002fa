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

The listener's side (``answer_in_one_write``, set at our boundary by
``tuning.apply``): py-libp2p's listener writes its header the moment a stream
arrives and the protocol's echo once it has read the proposal: two Noise +
Yamux messages. Patched, it reads the opener's header first (every opener
sends it without waiting) and, when the proposal is already there behind it
(a lazy opener's), answers with its header and the echo in one write; an
opener that waits for the header (py-libp2p's own ``new_stream``) gets it at
once, as before. The answer to a lazy proposal that selects a protocol is not
even written then: it is left on the stream (``take_answer``) and goes out in
front of the handler's first write (or when it closes the stream), so a lazy
stream's answer and its first reply are one message, not two (a stage
stream's ack, a hand-off's ack, a job's first event). A refusal (``na``) goes
out at once.
"""

from __future__ import annotations

from typing import Any

from hivemesh.mesh import wire

MULTISTREAM = "/multistream/1.0.0"
NOT_SUPPORTED = "na"
MAX_LINE = 1024  # a multistream line (a protocol id) longer than this is not an answer


class Refused(Exception):
    """The listener does not speak the proposed protocol (or is no multistream listener)."""


def line(text: str) -> bytes:
    """One multistream-select message: varint length, the text, a newline."""
    return wire.frame(text.encode() + b"\n")


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


def answer_in_one_write() -> None:
    """Patch py-libp2p's multistream-select listener (idempotent), see above."""
    from libp2p.io.exceptions import IOException
    from libp2p.protocol_muxer.exceptions import MultiselectCommunicatorError, MultiselectError
    from libp2p.protocol_muxer.multiselect import Multiselect, is_valid_handshake
    from libp2p.protocol_muxer.multiselect_communicator import MultiselectCommunicator

    if getattr(Multiselect.handshake, "hivemesh_one_write", False):
        return
    handshake, write = Multiselect.handshake, MultiselectCommunicator.write

    async def reading_first(self: Any, communicator: Any) -> None:
        if not isinstance(communicator, MultiselectCommunicator):
            await handshake(self, communicator)
            return
        try:
            contents = await communicator.read()
        except MultiselectCommunicatorError as error:
            raise MultiselectError() from error
        if not is_valid_handshake(contents):
            raise MultiselectError(f"multiselect protocol ID mismatch: received handshake_contents={contents}")
        if _buffered(communicator.read_writer):
            communicator.hivemesh_header_owed = True  # it goes out with the answer to the proposal
        else:
            try:
                await write(communicator, MULTISTREAM)
            except MultiselectCommunicatorError as error:
                raise MultiselectError() from error

    async def with_header(self: Any, msg_str: str) -> None:
        if not self.__dict__.pop("hivemesh_header_owed", False):
            await write(self, msg_str)
            return
        answer = line(MULTISTREAM) + line(msg_str or "")
        if msg_str and msg_str != NOT_SUPPORTED:  # selected: a handler runs, and its first write takes it along
            self.read_writer.hivemesh_answer = answer
            return
        try:
            await self.read_writer.write(answer)
        except (IOException, AssertionError, ValueError) as error:  # as py-libp2p's own write maps them
            raise MultiselectCommunicatorError("fail to write to multiselect communicator") from error

    reading_first.hivemesh_one_write = True  # type: ignore[attr-defined]
    Multiselect.handshake = reading_first  # type: ignore[method-assign]
    MultiselectCommunicator.write = with_header  # type: ignore[method-assign]


def take_answer(net_stream: Any) -> bytes:
    """The answer to a lazy proposal still to be written on this (listener's)
    stream, once: b"" when there is none."""
    try:
        return net_stream.__dict__.pop("hivemesh_answer", b"")
    except AttributeError:  # no instance dict: not one of py-libp2p's net streams
        return b""


def _buffered(net_stream: Any) -> bool:
    """Are bytes of this (Yamux) stream received and not read yet?"""
    try:
        muxed = net_stream.muxed_stream
        return bool(muxed.conn.stream_buffers.get(muxed.stream_id))
    except AttributeError:  # another muxer: answer as py-libp2p does
        return False
