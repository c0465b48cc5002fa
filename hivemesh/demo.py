"""The embedded demo: bootstrap, a gateway and three workers in one process.

Two models serve different capabilities: the bundled Gemma 3 270M (a base
model) summarises and answers; SmolLM2 135M Instruct follows instructions
(extract, classify, analysis). The gateway keeps its state in the in-process
store and plans with the offline planner (Claude when ANTHROPIC_API_KEY is
set).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

import trio

from hivemesh.client import OnEvent, submit_via
from hivemesh.config import Settings
from hivemesh.mesh.identity import generate
from hivemesh.mesh.node import MeshConfig
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.sources import load_model
from hivemesh.peer.inprocess import start_bootstrap, start_gateway, start_node, start_worker
from hivemesh.peer.jobrun import JobSettings
from hivemesh.peer.jobwire import JobResult, JobSubmit
from hivemesh.peer.store import MemoryStore
from hivemesh.planner.select import make_planner

INTERVAL = 1.0  # llama.cpp keeps both cores busy; tighter adverts would expire live peers
PARAGRAPH = (
    "Honey bees live in colonies of tens of thousands. A single queen lays the eggs, "
    "female workers gather nectar and pollen, build wax comb and guard the hive, and "
    "male drones exist to mate. By visiting flowers for food, bees pollinate a large "
    "share of the crops that people eat, which makes their decline a worry for farmers."
)
DEFAULT_JOB = "Summarise this paragraph and list three keywords."

#: worker name -> (model spec, capabilities)
WORKERS = {
    "gemma-1": ("bundled", ("summarize", "general")),
    "smollm2": ("smollm2-135m-instruct", ("extract", "classify", "analysis", "instruct")),
    "gemma-2": ("bundled", ("summarize", "general")),
}


def _registry(spec: str, caps: tuple[str, ...], threads: int) -> ModelRegistry:
    registry = ModelRegistry()
    registry.add(load_model(f"{spec}?ctx=2048&threads={threads}"), caps)
    registry.warm_up()
    return registry


async def run_demo(settings: Settings, text: str | None, inputs: Sequence[str] = (),
                   on_event: OnEvent | None = None) -> JobResult:
    if text is None:
        text, inputs = DEFAULT_JOB, (PARAGRAPH,)
    threads = settings.threads or 2
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        boot = await start_bootstrap(nursery)
        addr = boot.node.full_addrs()[:1]
        registries = []
        for spec, caps in WORKERS.values():
            registry = await trio.to_thread.run_sync(_registry, spec, caps, threads)
            stack.callback(registry.close)
            registries.append(registry)
            await start_worker(nursery, MeshConfig(generate(), bootstrap=addr, advert_interval=INTERVAL), registry)
        planner_model = registries[1].models()[0] if settings.planner_model != "none" else None
        planner = make_planner(settings, planner_model)
        gateway = await start_gateway(nursery, MeshConfig(generate(), bootstrap=addr, advert_interval=INTERVAL,
                                                          roles=()),
                                      MemoryStore(), planner, JobSettings(subtask_deadline_s=settings.subtask_deadline))
        client = await start_node(nursery, MeshConfig(generate(), bootstrap=addr, advert_interval=INTERVAL,
                                                      roles=(), advertise=False))
        with trio.fail_after(30):
            while len(client.node.view.with_capability("general")) < 2 or not client.node.view.gateway_eligible():
                await trio.sleep(0.1)
        result = await submit_via(client.node, JobSubmit(job_id=f"demo-{gateway.node.peer_id[-6:]}", text=text,
                                                         inputs=tuple(inputs)), 1, on_event)
        nursery.cancel_scope.cancel()
    return result
