"""Calling ``/hivemesh/task/1`` on another peer."""

from __future__ import annotations

import trio

from hivemesh.errors import DecodeError, PeerUnreachable, TaskError
from hivemesh.mesh import wire
from hivemesh.mesh.node import MeshNode
from hivemesh.worker.protocol import PROTOCOL, TaskReply, TaskRequest, raise_for

GRACE_S = 5.0  # on top of the subtask's own deadline


async def call_task(node: MeshNode, peer_id: str, request: TaskRequest, *, check: bool = True) -> TaskReply:
    """Send one subtask and wait for its reply. Cancelling this call cancels the
    subtask on the worker (the stream is reset). With ``check``, a failed
    reply raises its ``TaskError`` subclass."""
    stream = await node.open_stream(peer_id, PROTOCOL)
    try:
        await wire.write_message(stream, request)
        with trio.fail_after(request.deadline_s + GRACE_S):
            reply = await wire.read_message(stream, TaskReply)
    except trio.TooSlowError:
        raise TaskError(f"peer {peer_id[-8:]} did not answer within the deadline", code="deadline") from None
    except DecodeError as exc:
        raise TaskError(f"peer {peer_id[-8:]} sent a bad reply: {exc}", code="bad_reply") from None
    except (trio.Cancelled, KeyboardInterrupt):
        await _reset(stream)
        raise
    except Exception as exc:
        raise PeerUnreachable(f"peer {peer_id[-8:]} dropped subtask {request.task_id}: {exc}") from None
    finally:
        await _close(stream)
    return raise_for(reply) if check else reply


async def _reset(stream) -> None:  # type: ignore[no-untyped-def]
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        try:
            await stream.reset()
        except Exception:
            pass


async def _close(stream) -> None:  # type: ignore[no-untyped-def]
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        try:
            await stream.close()
        except Exception:
            pass
