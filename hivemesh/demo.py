"""The embedded demo: one job through a whole mesh in this process.

Two models serve different capabilities (see ``hivemesh.embedded.WORKERS``):
the bundled Gemma 3 270M (a base model) summarises and answers; SmolLM2 135M
Instruct follows instructions (extract, classify, analysis). The gateway keeps
its state in the in-process store and plans with the offline planner (Claude
when ANTHROPIC_API_KEY is set).
"""

from __future__ import annotations

from collections.abc import Sequence

from hivemesh.client import OnEvent
from hivemesh.config import Settings
from hivemesh.embedded import embedded_mesh
from hivemesh.gateway.jobwire import JobResult

PARAGRAPH = (
    "Honey bees live in colonies of tens of thousands. A single queen lays the eggs, "
    "female workers gather nectar and pollen, build wax comb and guard the hive, and "
    "male drones exist to mate. By visiting flowers for food, bees pollinate a large "
    "share of the crops that people eat, which makes their decline a worry for farmers."
)
DEFAULT_JOB = "Summarise this paragraph and list three keywords."


async def run_demo(settings: Settings, text: str | None, inputs: Sequence[str] = (),
                   on_event: OnEvent | None = None) -> JobResult:
    if text is None:
        text, inputs = DEFAULT_JOB, (PARAGRAPH,)
    async with embedded_mesh(settings) as mesh:
        return await mesh.submit(text, inputs, on_event=on_event)
