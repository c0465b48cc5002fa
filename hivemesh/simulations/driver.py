"""Drive a run: submit the scheduled jobs, strike the scheduled faults.

Jobs go through ``hivemesh.client.submit_via`` on the clients' observer nodes
(round robin), as a user's client would: it elects the gateways from its
view and re-attaches to another gateway when its own dies. A slow job is
not a lost one: after the last arrival the run drains, waiting up to
``job_timeout`` seconds for every job to end; a job with no final event
then is lost, and only such a job.
"""

from __future__ import annotations

import logging

import trio

from hivemesh.client import submit_via
from hivemesh.errors import GatewayBusy, HivemeshError, JobFailed
from hivemesh.gateway.jobwire import JobSubmit
from hivemesh.simulations.fleet import Fleet
from hivemesh.simulations.peers import SimPeer
from hivemesh.simulations.schedule import Arrival, Fault, Schedule, pick
from hivemesh.simulations.settings import SimSettings
from hivemesh.simulations.tracker import Tracker
from hivemesh.simulations.workload import job_id, job_input, job_text

BUSY_WAIT_S = 10.0  # a "busy" kill waits at most this long for its target to hold work
#: of a job's ``job_timeout``, the share its client may spend on busy gateways before it gives up (the
#: job is ``rejected``); the rest is left for the job to run once a gateway takes it
BUSY_SHARE = 0.75
#: a job's deadline comes this long before the drain ends: the time its end takes to reach its client
DEADLINE_MARGIN_S = 2.0

log = logging.getLogger(__name__)


class Driver:
    def __init__(self, fleet: Fleet, tracker: Tracker, settings: SimSettings) -> None:
        self.fleet, self.tracker, self.settings = fleet, tracker, settings
        self._drain_end = 0.0  # trio time: the last arrival + job_timeout

    async def run(self, schedule: Schedule) -> None:
        """Returns when every job has ended or timed out and every fault has struck."""
        origin = trio.current_time()
        last = schedule.arrivals[-1].at if schedule.arrivals else 0.0
        self._drain_end = origin + last + self.settings.job_timeout
        self.tracker.restart_clock()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._faults, schedule.faults, origin, nursery)
            for arrival in schedule.arrivals:
                self.tracker.job(arrival.index, job_id(arrival.index))
            with trio.CancelScope() as drain:
                async with trio.open_nursery() as jobs:
                    for arrival in schedule.arrivals:
                        await trio.sleep_until(origin + arrival.at)
                        jobs.start_soon(self._job, arrival)
                    drain.deadline = self._drain_end
            for trace in self.tracker.jobs.values():
                if trace.outcome == "pending" and trace.submitted_at is not None:
                    log.warning("job lost job=%s: no final event %.0fs after the last arrival (its client had "
                                "%d event(s), seen indexes up to %s, from gateway %s; %d busy answer(s))",
                                trace.job_id, self.settings.job_timeout, trace.events,
                                max(trace.seen, default="none"), trace.gateway[-8:] or "none", trace.busy)
                    self.tracker.lost(trace.job_id)

    # --- jobs -----------------------------------------------------------------------

    async def _job(self, arrival: Arrival) -> None:
        jid = job_id(arrival.index)
        client = self.fleet.clients[arrival.index % len(self.fleet.clients)]
        # the job's deadline: when the drain ends (the last arrival + job_timeout), less the time its
        # end takes to reach the client; so a job the gateways cannot finish ends failed, not lost
        deadline_s = max(0.001, self._drain_end - DEADLINE_MARGIN_S - trio.current_time())
        submit = JobSubmit(job_id=jid, text=job_text(arrival.index), inputs=(job_input(arrival.index),),
                           deadline_s=deadline_s)
        self.tracker.submitted(jid)
        busy_until = trio.current_time() + BUSY_SHARE * self.settings.job_timeout
        try:  # cancelled when the drain ends: then ``run`` counts it lost
            result = await submit_via(client, submit, self.settings.gateways, self.tracker.on_event,
                                      busy_until=busy_until)
        except GatewayBusy as exc:
            self.tracker.rejected(jid, exc.reason)
        except JobFailed as exc:
            self.tracker.failed(jid, exc.reason)
        except HivemeshError as exc:
            self.tracker.failed(jid, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the client let a foreign error through: a bug to report, not a crash
            log.warning("client raised %s for job %s: %s", type(exc).__name__, jid, exc)
            self.tracker.failed(jid, f"client raised {type(exc).__name__}: {exc}")
        else:
            self.tracker.finished(jid, result)

    # --- faults ---------------------------------------------------------------------

    async def _faults(self, faults: tuple[Fault, ...], origin: float, nursery: trio.Nursery) -> None:
        for fault in faults:
            await trio.sleep_until(origin + fault.at)
            peer = await self._when_busy(fault)
            if peer is None:
                log.warning("fault %s at %.1fs: no live peer to strike", fault.kind, fault.at)
                self.tracker.skipped_faults += 1
                continue
            kind = "leave" if fault.kind == "churn" else fault.kind
            self.tracker.fault(kind, peer.name, peer.peer_id)
            await self.fleet.stop(peer, kill=kind != "leave")
            nursery.start_soon(self.fleet.replace, peer)

    async def _when_busy(self, fault: Fault) -> SimPeer | None:
        """The fault's target; a "busy" kill first waits (up to ``BUSY_WAIT_S``)
        for a peer of its role to hold unfinished work, so that it interrupts
        something even when a slow machine has not started any job yet."""
        if fault.kind != "churn" and self.settings.kill_target == "busy":
            role = "gateway" if fault.kind == "kill-gateway" else "worker"
            with trio.move_on_after(BUSY_WAIT_S):
                while not self._busy(role, {p.peer_id: p for p in self.fleet.alive(role)}):
                    await trio.sleep(0.05)
        return self._target(fault)

    def _target(self, fault: Fault) -> SimPeer | None:
        role = "gateway" if fault.kind == "kill-gateway" else "worker"
        alive = {p.peer_id: p for p in self.fleet.alive(role)}
        candidates = list(alive)
        if fault.kind != "churn" and self.settings.kill_target == "busy":
            busy = self._busy(role, alive)
            candidates = busy or candidates
        chosen = pick(candidates, fault)
        return alive[chosen] if chosen is not None else None

    def _busy(self, role: str, alive: dict[str, SimPeer]) -> list[str]:
        if role == "gateway":
            held = {g for j, g in self.tracker.job_gateway.items() if self.tracker.jobs[j].terminal_events == 0}
            return [p for p in alive if p in held]
        return [p for p in self.tracker.busy_peers() if p in alive]
