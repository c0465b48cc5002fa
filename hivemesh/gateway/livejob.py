"""A job a gateway runs, as its attached clients see it (``follow_batches``), and
the one way its records and events are written on the hot path (one store trip
each step)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from hivemesh.gateway.jobrun import JobMoved, blocking
from hivemesh.gateway.jobwire import JobEvent
from hivemesh.gateway.store import JobStore
from hivemesh.mesh import wire

log = logging.getLogger(__name__)

POLL_S = 0.25  # a client following a job no gateway runs here reads the store this often


@dataclass
class LiveJob:
    """A job this gateway runs: its events (each stored before it is here) and
    a wake-up for the clients attached to it. ``stopped``: this gateway stopped
    running it without an end (store lost, or another gateway took it over);
    attached clients are let go, to re-attach where the job goes on."""

    events: list[JobEvent] = field(default_factory=list)
    changed: trio.Event = field(default_factory=trio.Event)
    lock: trio.Lock = field(default_factory=trio.Lock)
    stopped: bool = False
    #: the answer stage's text so far (streamed tokens; not stored), and its (subtask, attempt)
    partial: str = ""
    partial_of: tuple[str, int] = ("", 0)
    tokens: bool = False  # its submitter follows the answer's tokens: have the answer stage stream them
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cancelled: str = ""  # why the job was cancelled here (a client went away)

    def wake(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


async def write(store: JobStore, live: LiveJob, job_id: str, subtasks: Sequence[tuple[str, bytes]] = (),
                events: Sequence[tuple[str, dict[str, Any]]] = (),
                first: Callable[[], bool] | None = None) -> list[JobEvent] | None:
    """One trip to the store (one thread): ``first()`` (a blocking store call;
    when it says False nothing more is written and this returns None), then
    the subtask records and the job's next events in one round trip
    (``write_step``); the events are handed to the attached clients once
    stored. A job's hot path makes one such trip per step, not one per write
    (issue 13: the thread hops and round trips cost more than the writes)."""
    async with live.lock:
        made = [JobEvent(job_id=job_id, index=len(live.events) + i, kind=kind, **fields)
                for i, (kind, fields) in enumerate(events)]
        stored: list[JobEvent] = []

        def trip() -> bool:
            if first is not None and not first():
                return False
            if subtasks or made:  # records and events in one round trip (``JobStore.write_step``)
                store.write_step(job_id, subtasks, [wire.encode(event) for event in made])
            stored.extend(made)
            return True

        try:
            ok = await trio.to_thread.run_sync(trip)
        finally:
            if stored:
                live.events.extend(stored)
                live.wake()
    return made if ok else None


async def follow_batches(store: JobStore, live_jobs: dict[str, LiveJob], job_id: str, start: int = 0, *,
                         tokens: bool = False, stay: bool = False) -> AsyncIterator[list[JobEvent]]:
    """A job's events from ``start`` up to a terminal one, as many at a time as
    are there (a step stores several at once): from ``live_jobs`` while this
    gateway runs it, else from ``store``. With ``tokens``, also ``token``
    events (the answer's new text; not stored). When the job moves off this
    gateway: ``JobMoved``, or with ``stay`` its events go on from the store."""
    index, sent = start, ""
    while True:
        live = live_jobs.get(job_id)
        if live is not None and live.stopped:
            live = None
        if live is not None:
            events, changed = live.events[index:], live.changed
        else:
            events = [wire.decode(JobEvent, raw) for raw in await blocking(store.events, job_id, index)]
            changed = None
        ended = next((i for i, event in enumerate(events) if event.terminal), None)
        if ended is not None:
            yield events[:ended + 1]
            return
        if events:
            index += len(events)
            yield events
        if tokens and live is not None and len(live.partial) > len(sent) and live.partial.startswith(sent):
            offset, delta, sent = len(sent), live.partial[len(sent):], live.partial
            yield [JobEvent(job_id=job_id, index=index, kind="token", subtask_id=live.partial_of[0],
                            detail=delta, offset=offset)]
            continue
        if changed is not None:
            await changed.wait()
            if live is not None and live.stopped and not stay:
                log.info("job %s moved off this gateway; client let go at event %d", job_id, index)
                raise JobMoved(f"job {job_id} moved off this gateway")
        else:
            await trio.sleep(POLL_S)
