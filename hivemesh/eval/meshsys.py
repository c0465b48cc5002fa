"""The mesh as an eval system: the deployed job path, end to end.

``embedded`` starts a whole mesh in this process (``hivemesh.embedded``, as
the demo does); ``over_bootstrap`` joins a running mesh as one client node,
kept for the whole run, and submits each task to its elected gateways. The
gateway's planner is whatever that mesh uses: offline for ``mesh``, Claude
for ``mesh+claude`` (embedded only, with an API key).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from hivemesh.config import Settings
from hivemesh.eval.suite import Task
from hivemesh.eval.systems import Answer
from hivemesh.gateway.jobwire import JobResult

Submit = Callable[[str, Sequence[str]], Awaitable[JobResult]]


class MeshSystem:
    def __init__(self, name: str, submit: Submit) -> None:
        self.name, self._submit = name, submit

    async def answer(self, task: Task) -> Answer:
        from hivemesh.errors import HivemeshError

        started = time.monotonic()
        try:
            result = await self._submit(task.job, task.inputs)
        except HivemeshError as exc:
            return Answer("", time.monotonic() - started, error=str(exc))
        return answer_of(result, time.monotonic() - started)


def answer_of(result: JobResult, seconds: float) -> Answer:
    """An eval answer from a job's result and the wall time it took."""
    acc = result.accounting
    plan = result.plan
    detail = f"{plan.planner}: {len(plan.subtasks)} subtask(s)" if plan else ""
    return Answer(
        result.answer.strip() if result.status == "done" else "",
        seconds,
        acc.cloud_input_tokens if acc else 0,
        acc.cloud_output_tokens if acc else 0,
        acc.mesh_tokens if acc else 0,
        acc.cloud_usd if acc else 0.0,
        error="" if result.status == "done" else (result.error or f"job {result.status}"),
        detail=detail,
    )


@asynccontextmanager
async def embedded(name: str, settings: Settings, *, claude: bool) -> AsyncIterator[MeshSystem]:
    """A mesh in this process; ``claude`` False plans offline even with a key."""
    from hivemesh.embedded import embedded_mesh

    if not claude:
        settings = dataclasses.replace(settings, anthropic_api_key=None)
    async with embedded_mesh(settings) as mesh:
        yield MeshSystem(name, lambda job, inputs: mesh.submit(job, inputs))


@asynccontextmanager
async def one_model(spec: str, settings: Settings) -> AsyncIterator[MeshSystem]:
    """An embedded mesh like the default one, but with one model serving every
    model capability on each of its workers: per capability, runs of these
    against each other show which model a capability should go to (the
    default map, ``hivemesh.models.registry``)."""
    from hivemesh.embedded import WORKERS, embedded_mesh
    from hivemesh.models.registry import GEMMA_CAPABILITIES, SMOLLM2_CAPABILITIES

    caps = (*GEMMA_CAPABILITIES, *SMOLLM2_CAPABILITIES)
    workers = {name: (spec, caps) for name in WORKERS}
    settings = dataclasses.replace(settings, anthropic_api_key=None)
    async with embedded_mesh(settings, workers) as mesh:
        yield MeshSystem(f"mesh:{spec}", lambda job, inputs: mesh.submit(job, inputs))


@asynccontextmanager
async def over_bootstrap(settings: Settings) -> AsyncIterator[MeshSystem]:
    """One client node in a running mesh, submitting every task through it."""
    from hivemesh.client import Client, submit_via
    from hivemesh.mesh.identity import generate
    from hivemesh.mesh.node import MeshConfig, MeshNode
    from hivemesh.gateway.jobwire import JobSubmit

    node = MeshNode(MeshConfig(generate(), bootstrap=settings.bootstrap, advert_interval=settings.advert_interval,
                               roles=(), advertise=False, psk=settings.psk()))
    client = Client(settings.bootstrap, advert_interval=settings.advert_interval, k=settings.gateways)

    async def submit(job: str, inputs: Sequence[str]) -> JobResult:
        return await submit_via(node, JobSubmit(job_id=uuid.uuid4().hex, text=job, inputs=tuple(inputs)),
                                settings.gateways, None)

    async with node.run():
        await client.wait_for_gateways(node)
        yield MeshSystem("mesh", submit)
