"""Free py-libp2p's inbound-connection slots when the connection ends.

py-libp2p 0.8.1 caps inbound connections with a ``trio.CapacityLimiter``
(``max_connections - min_connections`` slots, 300 here) and takes one slot
per inbound connection, but its handler then waits for the *swarm* to
finish, not the connection: the slot is never given back. After 300 inbound
connections in its life, a peer refuses every new one. A bootstrap, which
every joining peer dials and leaves, hits that in minutes under churn (seen
in ``hivemesh simulate --scenario kill-workers``: replacements stopped
joining after ~300 dials). Each such handler is also a task kept forever.

``release_inbound_slots(host)`` wraps the swarm's inner inbound handler: it
runs the original in a child task, learns the upgraded connection from
``upgrade_inbound_raw_conn`` (through a context variable, so other callers
of that method are untouched), and when that connection closes cancels the
child, whose caller then returns the slot. The cap itself still holds for
connections that are open at the same time.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import trio

log = logging.getLogger(__name__)

POLL_S = 1.0


class _Upgraded:
    """The connection an inbound handler upgraded, once it has one."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.done = trio.Event()


_current: contextvars.ContextVar[_Upgraded | None] = contextvars.ContextVar("hivemesh_inbound", default=None)


def connection_closed(conn: Any) -> bool:
    shutting = getattr(conn, "event_shutting_down", None)
    return bool(getattr(conn, "is_closed", False)) or (shutting is not None and shutting.is_set())


async def wait_closed(conn: Any) -> None:
    """Until ``conn`` closes or starts to (either side); Yamux says so with an event."""
    shutting = getattr(conn, "event_shutting_down", None)
    if isinstance(shutting, trio.Event):
        await shutting.wait()
        return
    while not connection_closed(conn):
        await trio.sleep(POLL_S)


def release_inbound_slots(host: Any) -> None:
    swarm = host.get_network()
    if getattr(swarm, "hivemesh_inbound_fixed", False):
        return
    inner, upgrade = swarm._do_handle_inbound_connection, swarm.upgrade_inbound_raw_conn

    async def recording_upgrade(raw_conn: Any, maddr: Any) -> Any:
        conn = await upgrade(raw_conn, maddr)
        holder = _current.get()
        if holder is not None:
            holder.conn = conn
            holder.done.set()
        return conn

    async def handle(read_write_closer: Any, maddr: Any, failure_event: Any) -> None:
        holder = _Upgraded()
        _current.set(holder)  # this task's context; the child below copies it

        async with trio.open_nursery() as nursery:
            async def original() -> None:
                await inner(read_write_closer, maddr, failure_event)
                nursery.cancel_scope.cancel()  # upgrade failed: nothing to wait for

            nursery.start_soon(original)
            await holder.done.wait()
            await wait_closed(holder.conn)
            nursery.cancel_scope.cancel()  # the connection is gone: let the slot go

    swarm._do_handle_inbound_connection = handle
    swarm.upgrade_inbound_raw_conn = recording_upgrade
    swarm.hivemesh_inbound_fixed = True
