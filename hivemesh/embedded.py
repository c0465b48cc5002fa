"""A whole mesh in this process: bootstrap, a gateway and workers on loopback.

What ``hivemesh demo`` and ``hivemesh eval --embedded`` run: the same peer
code as a deployed mesh (gossip, election, gateway, pipeline), in one trio
loop, with the gateway's state in the in-process store.

    async with embedded_mesh(settings) as mesh:
        result = await mesh.submit("Summarise this", ["some text"])
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import trio

from hivemesh.client import OnEvent, submit_via
from hivemesh.config import Settings
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import GEMMA_CAPABILITIES, SMOLLM2_CAPABILITIES, ModelRegistry
from hivemesh.models.sources import load_model, parse_spec
from hivemesh.models.tools import TOOLS, load_tool
from hivemesh.peer.inprocess import Running, start_bootstrap, start_gateway, start_node, start_worker
from hivemesh.gateway.jobrun import job_settings
from hivemesh.gateway.jobwire import JobResult, JobSubmit
from hivemesh.gateway.store import MemoryStore
from hivemesh.planner.base import Planner
from hivemesh.planner.select import make_planner

INTERVAL = 2.0  # llama.cpp keeps both cores busy (and the GIL): tighter adverts expire live peers
JOIN_TIMEOUT_S = 60.0

#: worker name -> (model spec, capabilities it serves): the default map of
#: ``hivemesh.models.registry.DEFAULT_MODEL_ARGS``, spread over three workers
WORKERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gemma-1": ("bundled", GEMMA_CAPABILITIES),
    "smollm2": ("smollm2-135m-instruct", SMOLLM2_CAPABILITIES),
    "gemma-2": ("bundled", GEMMA_CAPABILITIES),
}


def load_registry(spec: str, caps: Sequence[str], threads: int, tools: Sequence[str] = TOOLS) -> ModelRegistry:
    """A registry of one model serving ``caps`` and the ``tools`` (as every
    peer has by default), warmed up (its speed measured)."""
    parsed = parse_spec(spec)
    if parsed.kind in ("package", "path", "hf"):
        given = dict(parsed.options)
        extra = {"ctx": "2048", "threads": str(threads)}
        parsed = replace(parsed, options=tuple(sorted({**extra, **given}.items())))
    registry = ModelRegistry()
    try:
        registry.add(load_model(parsed), caps)
        for tool in tools:
            if tool not in caps:
                registry.add(load_tool(tool), (tool,))
        registry.warm_up()
    except BaseException:
        registry.close()
        raise
    return registry


@dataclass
class EmbeddedMesh:
    client: Running
    gateway: Running
    workers: list[Running]
    planner: Planner

    async def submit(self, text: str, inputs: Sequence[str] = (), *, job_id: str | None = None,
                     aggregate: bool = False, on_event: OnEvent | None = None) -> JobResult:
        """Submit a job through the elected gateway and wait for its result."""
        submit = JobSubmit(job_id=job_id or uuid.uuid4().hex, text=text, inputs=tuple(inputs),
                           aggregate=aggregate)
        return await submit_via(self.client.node, submit, 1, on_event)


@asynccontextmanager
async def embedded_mesh(settings: Settings, workers: Mapping[str, tuple[str, Sequence[str]]] | None = None,
                        planner: Planner | None = None) -> AsyncIterator[EmbeddedMesh]:
    """Start a bootstrap, one worker per ``workers`` entry, a gateway and a
    client node; yield once the client sees every worker and the gateway."""
    workers = WORKERS if workers is None else workers
    threads = settings.threads or 2
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        boot = await start_bootstrap(nursery)
        addr = boot.node.full_addrs()[:1]

        def config(**kw: object) -> MeshConfig:
            return MeshConfig(generate(), bootstrap=addr, advert_interval=INTERVAL, **kw)  # type: ignore[arg-type]

        running: list[Running] = []
        registries: list[ModelRegistry] = []
        for spec, caps in workers.values():
            registry = await trio.to_thread.run_sync(load_registry, spec, tuple(caps), threads)
            stack.callback(registry.close)
            registries.append(registry)
            running.append(await start_worker(nursery, config(), registry))
        if planner is None:
            planner = await make_planner(settings, _planner_model(settings, registries))
        gateway = await start_gateway(nursery, config(roles=()), MemoryStore(), planner,
                                      job_settings(settings))
        client = await start_node(nursery, config(roles=(), advertise=False))
        ids = {r.node.peer_id for r in running} | {gateway.node.peer_id}
        with trio.fail_after(JOIN_TIMEOUT_S):
            while not ids <= set(client.node.view.peers) or not client.node.view.gateway_eligible():
                await trio.sleep(0.1)
        try:
            yield EmbeddedMesh(client, gateway, running, planner)
        finally:
            nursery.cancel_scope.cancel()


def _planner_model(settings: Settings, registries: list[ModelRegistry]) -> object | None:
    """The offline planner's local model: one the workers loaded already, when
    the settings name it, so the demo does not load a model twice."""
    from hivemesh.planner.select import load_planner_model

    if settings.planner_model.lower() == "none":
        return None
    for registry in registries:
        for model in registry.models():
            if model.name == settings.planner_model:
                return model
    return load_planner_model(settings)
