"""Submitting jobs: ``Client(bootstrap=...).submit("job text")``.

The client joins the mesh as an observer, elects the gateways from its own
view exactly as the peers do, and tries them in the job's rendezvous order.
A gateway that is busy (it runs all it can) says so at once: the client
tries the next one, and when every elected gateway is busy it waits (backing
off, with jitter) and tries again, until its own deadline. If the gateway it
is talking to goes away mid-job, it re-attaches to the next one with the
same job id and the index of the next event it needs.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
import weakref
from contextlib import aclosing
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from hivemesh.errors import DecodeError, GatewayBusy, HivemeshError, JobFailed, MeshError, StreamBroken, first_error
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MAX_STREAMS_PER_PEER, MeshConfig, MeshNode
from hivemesh.mesh.stream import Stream
from hivemesh.gateway.admission import Backoff
from hivemesh.gateway.election import DEFAULT_K, elect_from_view, route
from hivemesh.gateway.jobwire import PROTOCOL, JobEvent, JobResult, JobSubmit

if TYPE_CHECKING:
    from hivemesh.streaming import TextStream

log = logging.getLogger(__name__)

OnEvent = Callable[[JobEvent], None]


class Client:
    def __init__(self, bootstrap: str | Sequence[str], *, advert_interval: float = 2.0, k: int = DEFAULT_K,
                 join_timeout: float = 30.0, job_timeout: float = 1800.0, psk: str | None = None) -> None:
        self.bootstrap = [bootstrap] if isinstance(bootstrap, str) else list(bootstrap)
        self.advert_interval, self.k = advert_interval, k
        self.join_timeout, self.job_timeout = join_timeout, job_timeout
        self.psk = psk  # the private swarm's key, when it has one

    def submit(self, text: str, inputs: Sequence[str] = (), *, job_id: str | None = None,
               aggregate: bool = False, on_event: OnEvent | None = None, tokens: bool = False) -> JobResult:
        """Submit a job and wait for its result (runs its own trio loop).
        ``tokens``: ``on_event`` also gets ``token`` events (the answer as it grows)."""
        return trio.run(partial(self.submit_async, text, inputs, job_id=job_id, aggregate=aggregate,
                                on_event=on_event, tokens=tokens))

    def stream(self, text: str, inputs: Sequence[str] = (), *, job_id: str | None = None) -> TextStream:
        """Submit a job; iterate the result for the answer's text as it is
        generated (then ``.result`` holds the ``JobResult``)."""
        from hivemesh.streaming import TextStream

        return TextStream(lambda on_event: self.submit(text, inputs, job_id=job_id, on_event=on_event, tokens=True))

    async def submit_async(self, text: str, inputs: Sequence[str] = (), *, job_id: str | None = None,
                           aggregate: bool = False, on_event: OnEvent | None = None,
                           tokens: bool = False) -> JobResult:
        node = MeshNode(MeshConfig(generate(), bootstrap=self.bootstrap, advert_interval=self.advert_interval,
                                   roles=(), advertise=False, psk=self.psk))
        submit = JobSubmit(job_id=job_id or uuid.uuid4().hex, text=text, inputs=tuple(inputs),
                           aggregate=aggregate, tokens=tokens, deadline_s=self.job_timeout)  # gateways know it
        try:
            async with node.run():
                await self.wait_for_gateways(node)
                with trio.fail_after(self.job_timeout):
                    return await submit_via(node, submit, self.k, on_event,
                                            busy_until=trio.current_time() + self.job_timeout)
        except BaseExceptionGroup as group:  # errors from inside the node's nursery
            error = first_error(group)
            if error is None:
                raise
            raise error from None

    async def wait_for_gateways(self, node: MeshNode) -> None:
        with trio.move_on_after(self.join_timeout):
            while not node.view.gateway_eligible():
                await trio.sleep(0.1)
            await trio.sleep(self.advert_interval)  # let the rest of the view arrive
            return
        if not node.connected_peers():
            raise MeshError(f"could not reach any bootstrap peer: {', '.join(self.bootstrap)}")
        raise MeshError(f"no gateway in the mesh after {self.join_timeout:.0f}s "
                        "(start a peer with --gateway --redis URL)")


#: once a gateway has accepted the job, how long the client keeps re-attaching
#: (to whichever gateway runs it next) without hearing of the job, before it
#: gives up: longer than a dead gateway's leases take to lapse and be taken over
REATTACH_S = 60.0


BACKOFF = Backoff()
#: job streams one client node keeps open to one gateway at once: well under
#: what a gateway takes from one peer (past that it resets new streams, which
#: a client cannot tell from a dead gateway); more jobs wait their turn here
STREAMS_PER_GATEWAY = MAX_STREAMS_PER_PEER // 2
_streams: weakref.WeakKeyDictionary[MeshNode, dict[str, trio.CapacityLimiter]] = weakref.WeakKeyDictionary()


def _stream_slots(node: MeshNode, gateway: str) -> trio.CapacityLimiter:
    per_node = _streams.setdefault(node, {})
    if gateway not in per_node:
        per_node[gateway] = trio.CapacityLimiter(STREAMS_PER_GATEWAY)
    return per_node[gateway]


async def submit_via(node: MeshNode, submit: JobSubmit, k: int, on_event: OnEvent | None,
                     reattach_s: float = REATTACH_S, busy_until: float = math.inf) -> JobResult:
    """Try the elected gateways in rendezvous order until one gives a result.

    Before a gateway accepts the job, the elected gateways get a few tries in
    all; after, the client re-attaches for up to ``reattach_s`` since it last
    heard of the job (a lost job is worse than a late one). While its view
    holds no gateway (adverts flap under load and churn) it waits, up to
    ``reattach_s`` in all, without spending tries. A ``busy`` answer spends
    no try either: when every elected gateway is busy the client backs off
    and tries again, and raises ``GatewayBusy`` when its next try would come
    after ``busy_until`` (trio time). ``on_event`` sees each busy answer
    (``peer_id``: the gateway) and each wait (``peer_id`` empty)."""
    next_event, accepted = 0, False
    tried: list[str] = []
    errors: list[str] = []
    busy: dict[str, JobEvent] = {}  # this round's busy answers, by gateway
    tries, heard, rounds = 0, trio.current_time(), 0
    started = heard  # the job's deadline (``submit.deadline_s``, if any) counts from here

    def go_on() -> bool:
        recent = trio.current_time() - heard < reattach_s
        return recent if accepted else recent and tries < 4 * k

    while go_on():
        gateways = [g for g in route(submit.job_id, elect_from_view(node.view, k)) if g not in tried]
        if not gateways and busy:  # every gateway tried this round was busy: wait, then try them again
            rounds += 1
            delay = BACKOFF.delay(min(e.retry_after_s for e in busy.values()), rounds, random.random())
            if trio.current_time() + delay > busy_until:
                raise GatewayBusy(f"every gateway busy until the client's deadline ({rounds} rounds); last: "
                                  + next(reversed(busy.values())).detail, delay)
            if on_event is not None:
                on_event(JobEvent(job_id=submit.job_id, index=0, kind="busy", retry_after_s=round(delay, 3),
                                  detail=f"{len(busy)} gateway(s) busy; trying again in {delay:.1f}s"))
            await trio.sleep(delay)
            busy.clear()
            tried.clear()
            heard = trio.current_time()
            continue
        if not gateways:  # a view without (untried) gateways costs time, not tries: it changes
            await trio.sleep(node.config.advert_interval)
            tried.clear()
            continue
        tries += 1
        gateway = gateways[0]
        tried.append(gateway)
        attempt = JobSubmit(job_id=submit.job_id, text=submit.text, inputs=submit.inputs,
                            aggregate=submit.aggregate, from_event=next_event, attach_only=accepted,
                            tokens=submit.tokens, deadline_s=_left(submit.deadline_s, started))
        try:
            async with aclosing(_events(node, gateway, attempt, math.inf if accepted else busy_until)) as events:
                async for event in events:
                    if event.kind == "busy" and not accepted:  # not taken now: no try spent
                        busy[gateway], tries, heard = event, tries - 1, trio.current_time()
                        if on_event is not None:
                            on_event(replace(event, peer_id=gateway))
                        break
                    if event.kind == "failed" and not accepted and event.index == 0:
                        errors.append(f"{gateway[-8:]}: {event.detail}")
                        break  # refused before accepting: try the next gateway
                    accepted, heard = True, trio.current_time()
                    if event.kind != "token":  # tokens are not stored: they take no index
                        next_event = event.index + 1
                    if on_event is not None:
                        on_event(event)
                    if event.terminal and event.result is not None:
                        return event.result
        except GatewayBusy:
            raise  # this client's own streams to the gateway stayed in use past the deadline
        except (HivemeshError, OSError) as exc:
            errors.append(f"{gateway[-8:]}: {exc}")
            log.info("gateway %s lost (%s); trying the next", gateway[-8:], exc)
    if not errors:
        raise JobFailed(f"no gateway in this client's view of the mesh for {reattach_s:.0f}s")
    raise JobFailed("no gateway could run the job: " + "; ".join(errors[-4:]))


def _left(deadline_s: float, started: float) -> float:
    """What is left of a job's deadline (0: none) when it is sent again (after
    busy answers, or to another gateway): the gateway judges the time left."""
    if not deadline_s:
        return 0.0
    return max(0.001, deadline_s - (trio.current_time() - started))


async def _events(node: MeshNode, gateway: str, submit: JobSubmit, wait_until: float = math.inf) -> Any:
    """The job's events from ``gateway``, on one of this client node's job
    streams to it; a job waits its turn for one (first come, first served),
    but not past ``wait_until``: then it is ``GatewayBusy``, as if the gateway
    had said so (seen: at 4x a mesh's rate, jobs queued here for a stream
    never reached a gateway before the run ended, counted lost)."""
    slots, got = _stream_slots(node, gateway), False
    with trio.move_on_at(wait_until):
        await slots.acquire()
        got = True
    if not got:
        raise GatewayBusy(f"this client's {slots.total_tokens:g} job streams to gateway {gateway[-8:]} stayed in use "
                          "until its deadline", 0.0)
    try:
        async with aclosing(_stream_events(node, gateway, submit)) as events:
            async for event in events:
                yield event
    finally:
        slots.release()


async def _stream_events(node: MeshNode, gateway: str, submit: JobSubmit) -> Any:
    stream = await node.open_stream(gateway, PROTOCOL, lazy=True)
    try:
        try:
            await stream.send(submit)
        except StreamBroken as exc:
            raise MeshError(f"gateway stream broke: {exc}") from None
        while True:
            event = await _next_event(node, gateway, stream)
            yield event
            if event.terminal:
                return
    finally:
        await stream.close()


async def _next_event(node: MeshNode, gateway: str, stream: Stream) -> JobEvent:
    """The next event, or MeshError when the stream breaks or the gateway
    leaves the mesh meanwhile (a dead gateway's connection may be half-open
    and never break). Out of the view is gone only once the node has hung up
    on it: the node pings a peer whose adverts lapsed and keeps the connection
    of one that answers (``mesh/liveness.py``), so the stream of a late
    gateway is kept (seen on a slowed mesh: adverts came so late that views
    emptied, clients let go of live gateways' streams, found no gateway to
    re-attach to, and the jobs' ends, told on the streams they had let go of,
    never reached them)."""
    event: list[JobEvent] = []
    broke: list[HivemeshError] = []
    async with trio.open_nursery() as nursery:
        async def read() -> None:
            try:
                event.append(await stream.receive(JobEvent))
            except (StreamBroken, DecodeError) as exc:
                broke.append(exc)
            nursery.cancel_scope.cancel()

        nursery.start_soon(read)
        seen = gateway in node.view.peers
        while True:
            await trio.sleep(0.25)
            if gateway in node.view.peers:
                seen = True
            elif seen and gateway not in node.connected_peers():
                nursery.cancel_scope.cancel()
                break
    if broke:
        raise MeshError(f"gateway stream broke: {broke[0]}")
    if not event:
        raise MeshError(f"gateway {gateway[-8:]} left the mesh")
    return event[0]


def result_to_json(result: JobResult) -> dict[str, Any]:
    """The ``--json`` form of a result."""
    acc = result.accounting
    return {
        "job_id": result.job_id,
        "status": result.status,
        "answer": result.answer,
        "error": result.error,
        "gateway": result.gateway,
        "seconds": result.seconds,
        "plan": {
            "planner": result.plan.planner if result.plan else "",
            "answer": result.plan.answer if result.plan else "",
            "seconds": result.plan.seconds if result.plan else 0.0,
            "subtasks": [s.to_wire() for s in result.plan.subtasks] if result.plan else [],
        },
        "subtasks": [s.to_wire() for s in result.subtasks],
        "accounting": acc.to_wire() if acc else {},
    }
