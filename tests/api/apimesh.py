"""A small live mesh with the HTTP API on its gateway, for the API tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from hivemesh.api.app import Api, ApiSettings
from hivemesh.api.metrics import PeerMetrics
from hivemesh.api.server import serve
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.gateway.store.memory import MemoryStore
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.peer.inprocess import Running, start_gateway
from hivemesh.planner.offline import ScriptedPlanner
from hivemesh.planner.plan import Plan, Subtask
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until

PIPELINE = Plan(
    subtasks=(Subtask("a", "summarize", "Summarise: {{job}}", (), 16),
              Subtask("b", "general", "Answer from {{out:a}}", ("a",), 32)),
    answer="b", planner="scripted")


@dataclass
class ApiMesh:
    url: str
    bootstrap: list[str]
    gateway: Any
    workers: dict[str, Running]
    api: Api
    metrics: dict[str, Any]  # "gateway", "general": PeerMetrics (with ``metrics=True``)


async def api_mesh(nursery: trio.Nursery, settings: ApiSettings = ApiSettings(), *, tps: float = 0.0,
                   words: int = 12, metrics: bool = False, jobs: JobSettings | None = None) -> ApiMesh:
    """Bootstrap, a gateway (in-process store, scripted 2-stage plan) serving
    the API on loopback, and workers for ``summarize`` and ``general``
    (simulated, ``tps`` tokens/s, ``words`` words)."""
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    workers = {}
    for cap in ("summarize", "general"):
        registry = ModelRegistry()
        registry.add(SimulatedModel(f"sim-{cap}", tokens_per_second=tps, reply_words=words), (cap,))
        workers[cap] = await start_worker(nursery, addr, registry)
    gw = await start_gateway(nursery, peer_config(addr, roles=()), MemoryStore(), ScriptedPlanner([PIPELINE]), jobs)
    gateway = gw.extra["gateway"]
    watcher = await start(nursery, peer_config(addr, advertise=False, roles=()))
    everyone = {w.node.peer_id for w in workers.values()}
    await wait_until(lambda: everyone <= set(gateway.node.view.peers), 15, "the gateway's view")
    await wait_until(lambda: gw.node.peer_id in watcher.node.view.peers, 15, "the gateway advertised")
    served = {}
    if metrics:
        served["gateway"] = PeerMetrics()
        served["gateway"].attach(gw.node, None, gateway)
        served["general"] = PeerMetrics()
        served["general"].attach(workers["general"].node, workers["general"].worker)
        for m in served.values():
            m.url = await nursery.start(serve, m.app(), "127.0.0.1:0", "metrics")
    api = Api(gateway, settings, served["gateway"].http_status if metrics else None)
    url = await nursery.start(serve, api.app(), "127.0.0.1:0")
    return ApiMesh(url, addr, gateway, workers, api, served)
