"""Asking a peer to run one stage on ``/hivemesh/stage/1``: the one path a
subtask takes to a worker, for jobs (the gateway's ``Conductor``), the
inference bench and the tests alike.

``run_stage`` carries an assignment over an open stream: the assignment
out, the ack back, token frames (each to ``on_token``) and the
``StageDone``. A refused assignment raises its ``TaskError`` subclass
(``busy``, ``wrong_model``, ``capability_missing``, ``bad_request``...).
``call_stage`` opens the stream, bounds the whole exchange by the stage's
deadline and closes the stream after (closing it early, as a cancelled call
does, cancels the stage on the worker). ``read_undelivered``: after an ok
``StageDone``, which of its hand-offs the downstream peers did not take.
"""

from __future__ import annotations

import trio

from hivemesh.errors import HivemeshError
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream
from hivemesh.worker import handoff
from hivemesh.worker.pipewire import STAGE, Delivery, StageAck, StageAssign, StageDone, Undelivered
from hivemesh.worker.protocol import task_error
from hivemesh.worker.tokens import OnToken, read_stage_end

ACK_TIMEOUT_S = 10.0
GRACE_S = 5.0  # on top of the stage's own deadline
#: how long the worker may take to hear its hand-offs' acks after its report (a try on its kept
#: stream, then one on a fresh one)
HANDOFF_WAIT_S = 2 * handoff.IO_TIMEOUT_S + GRACE_S


async def run_stage(stream: Stream, assign: StageAssign, on_token: OnToken | None = None,
                    ack_timeout_s: float = ACK_TIMEOUT_S) -> StageDone:
    """Send ``assign`` on ``stream``; its ``StageDone`` (ok or not)."""
    await stream.send(assign)
    ack = await stream.receive(StageAck, ack_timeout_s)
    if not ack.ok:
        raise task_error(ack.error_code, f"peer {stream.peer[-8:]} refused stage {assign.subtask_id}: "
                                         f"{ack.error_code}: {ack.error}")
    return await read_stage_end(stream, on_token)


async def call_stage(node: MeshNode, peer_id: str, assign: StageAssign, on_token: OnToken | None = None, *,
                     check: bool = True) -> StageDone:
    """Run ``assign`` on ``peer_id``. With ``check``, a failed stage raises its
    ``TaskError`` subclass (``deadline``, ``context_overflow``...). A peer that
    is gone raises ``PeerUnreachable`` or ``StreamBroken``; a late one
    ``trio.TooSlowError``."""
    stream = await node.open_stream(peer_id, STAGE, lazy=True)
    try:
        with trio.fail_after(assign.deadline_s + GRACE_S):
            done = await run_stage(stream, assign, on_token)
    finally:
        await stream.close()
    if check and not done.ok:
        raise task_error(done.error_code, f"peer {peer_id[-8:]}: {done.error}")
    return done


async def read_undelivered(stream: Stream, done: StageDone, timeout_s: float = HANDOFF_WAIT_S) -> tuple[Delivery, ...]:
    """The hand-offs ``done`` counts as written that their peers did not take:
    what the worker's ``Undelivered`` frame names before it closes the stream
    (none when it just closes it). A stream that breaks, or stays open past
    ``timeout_s``, counts every one: a copy sent twice is recognised, a lost one is not."""
    sent = tuple(d for d in done.deliveries if d.ok)
    if not sent:
        return ()
    try:
        with trio.fail_after(timeout_s):
            missed = await wire.read_kind(stream, (Undelivered,))
    except wire.EndOfStream:
        return ()
    except (HivemeshError, trio.TooSlowError):
        return sent
    assert isinstance(missed, Undelivered)
    named = {d.route for d in missed.deliveries}
    return tuple(d for d in sent if d.route in named)
