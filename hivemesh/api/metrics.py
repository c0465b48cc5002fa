"""Prometheus metrics of one peer (``--metrics HOST:PORT`` serves ``/metrics``).

Events (a job ended, a subtask ran, an HTTP response) are counted when they
happen, through the small hooks the gateway, the worker and the API call;
state (peers in view, rejected adverts, bans, queues, model speed) is read
from the peer when Prometheus scrapes. Each peer has its own registry, so
in-process peers (tests, the demo) do not share numbers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

NAMES = (
    "hivemesh_jobs_total", "hivemesh_job_seconds", "hivemesh_subtask_seconds", "hivemesh_peers_in_view",
    "hivemesh_adverts_rejected_total", "hivemesh_bans_total", "hivemesh_banned_peers",
    "hivemesh_model_tokens_per_second", "hivemesh_queue_length", "hivemesh_slots_busy",
    "hivemesh_http_requests_total",
)


class PeerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs = Counter("hivemesh_jobs", "Jobs this gateway ran to an end, by outcome", ["outcome"],
                            registry=self.registry)
        self.job_seconds = Histogram("hivemesh_job_seconds", "Job latency on this gateway, submit to answer",
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.subtask_seconds = Histogram("hivemesh_subtask_seconds", "Subtask (stage) run time on this worker",
                                         ["capability"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.http = Counter("hivemesh_http_requests", "HTTP API responses by status", ["status"],
                            registry=self.registry)
        self.state = _State()
        self.registry.register(self.state)
        self.url = ""  # where it is served, once it is

    def attach(self, node: Any, worker: Any = None, gateway: Any = None) -> None:
        """Read this peer's state at scrape time; count its events from now on."""
        self.state.node, self.state.worker = node, worker
        if worker is not None:
            worker.on_subtask = self.subtask_ran
        if gateway is not None:
            gateway.on_job_end = self.job_ended

    def job_ended(self, status: str, seconds: float) -> None:
        self.jobs.labels(outcome=status).inc()
        self.job_seconds.observe(seconds)

    def subtask_ran(self, capability: str, seconds: float) -> None:
        self.subtask_seconds.labels(capability=capability).observe(seconds)

    def http_status(self, status: int) -> None:
        self.http.labels(status=str(status)).inc()

    def app(self) -> Any:
        """``/metrics`` (and ``/``) in Prometheus' text format."""
        from prometheus_client import make_asgi_app

        return make_asgi_app(self.registry)


class _State:
    """A collector reading the peer's state when scraped."""

    def __init__(self) -> None:
        self.node: Any = None
        self.worker: Any = None

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        node, worker = self.node, self.worker
        if node is None:
            return
        yield GaugeMetricFamily("hivemesh_peers_in_view", "Peers in this peer's mesh view", value=len(node.view.peers))
        rejected = CounterMetricFamily("hivemesh_adverts_rejected", "Adverts rejected, by reason", labels=["reason"])
        for reason, n in sorted(node.view.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield CounterMetricFamily("hivemesh_bans", "Peers this peer banned", value=node.gossip_stats["bans"])
        yield GaugeMetricFamily("hivemesh_banned_peers", "Peers banned now", value=len(node.banned()))
        if worker is None:
            return
        speed = GaugeMetricFamily("hivemesh_model_tokens_per_second", "Measured generation speed", labels=["model"])
        for info in worker.registry.infos():
            speed.add_metric([info.name], info.tokens_per_second)
        yield speed
        capacity = worker.admission.capacity()
        yield GaugeMetricFamily("hivemesh_queue_length", "Subtasks waiting for a slot", value=capacity.queue)
        yield GaugeMetricFamily("hivemesh_slots_busy", "Slots running a subtask",
                                value=capacity.slots_total - capacity.slots_free)


@asynccontextmanager
async def served_metrics(bind: str | None, node: Any, worker: Any = None) -> AsyncIterator[PeerMetrics | None]:
    """With ``bind`` (``--metrics HOST:PORT``): the peer's metrics, served at
    ``http://HOST:PORT/metrics`` while in the context; else None."""
    if not bind:
        yield None
        return
    from hivemesh.api.server import serve

    metrics = PeerMetrics()
    metrics.attach(node, worker)
    async with trio.open_nursery() as nursery:
        metrics.url = await nursery.start(serve, metrics.app(), bind, "metrics")
        try:
            yield metrics
        finally:
            nursery.cancel_scope.cancel()
