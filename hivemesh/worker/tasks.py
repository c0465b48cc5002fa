"""Calling ``/hivemesh/task/1`` on another peer."""

from __future__ import annotations

import trio

from hivemesh.errors import DecodeError, PeerUnreachable, StreamBroken, TaskError
from hivemesh.mesh.node import MeshNode
from hivemesh.worker.protocol import PROTOCOL, TaskReply, TaskRequest, raise_for

GRACE_S = 5.0  # on top of the subtask's own deadline


async def call_task(node: MeshNode, peer_id: str, request: TaskRequest, *, check: bool = True) -> TaskReply:
    """Send one subtask and wait for its reply. Cancelling this call cancels the
    subtask on the worker (the stream is reset). With ``check``, a failed
    reply raises its ``TaskError`` subclass."""
    stream = await node.open_stream(peer_id, PROTOCOL)
    try:
        await stream.send(request)
        reply = await stream.receive(TaskReply, request.deadline_s + GRACE_S)
    except trio.TooSlowError:
        raise TaskError(f"peer {peer_id[-8:]} did not answer within the deadline", code="deadline") from None
    except StreamBroken as exc:
        raise PeerUnreachable(f"peer {peer_id[-8:]} dropped subtask {request.task_id}: {exc}") from None
    except DecodeError as exc:
        raise TaskError(f"peer {peer_id[-8:]} sent a bad reply: {exc}", code="bad_reply") from None
    except BaseException:
        await stream.reset()  # cancelled: the reset cancels the subtask on the worker
        raise
    finally:
        await stream.close()
    return raise_for(reply) if check else reply
