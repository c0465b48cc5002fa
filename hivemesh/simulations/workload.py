"""What the simulated mesh runs: the pipeline plan, job texts, worker models.

A job is a chain of ``stages`` subtasks ``s0 -> s1 -> ...``; stage ``i`` needs
capability ``CAPABILITIES[i % n]`` where ``n`` (``capability_count``) keeps at
least two workers per capability when there are enough workers, so a kill
leaves a substitute. Worker slot ``j`` serves ``CAPABILITIES[j % n]``.
Each worker's simulated model draws its latency and token rate once from the
configured distributions. Pure and seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hivemesh.planner.plan import Plan, Subtask
from hivemesh.simulations.dists import Dist

CAPABILITIES = ("summarize", "analysis", "general", "extract", "code", "math", "classify", "instruct")
STAGE_TOKENS = 64
PLANNER = "simulated-chain"


def capability_count(stages: int, workers: int) -> int:
    """Distinct capabilities in use: at most one per stage, two workers each."""
    return max(1, min(stages, len(CAPABILITIES), workers // 2))


def stage_capability(index: int, ncaps: int) -> str:
    return CAPABILITIES[index % ncaps]


def chain_plan(stages: int, ncaps: int) -> Plan:
    """``s0 -> s1 -> ... -> s{stages-1}``; the last stage's output is the answer."""
    subtasks = [Subtask("s0", stage_capability(0, ncaps), "Stage 1: {{job}}\n\n{{input}}", (), STAGE_TOKENS)]
    for i in range(1, stages):
        subtasks.append(Subtask(f"s{i}", stage_capability(i, ncaps), f"Stage {i + 1}: {{{{out:s{i - 1}}}}}",
                                (f"s{i - 1}",), STAGE_TOKENS))
    return Plan(tuple(subtasks), f"s{stages - 1}", PLANNER)


def job_id(index: int) -> str:
    return f"sim-{index:06d}"


def job_text(index: int) -> str:
    """Distinct per job, so no job is answered from another's cached output."""
    return f"Job {index}: read the input, summarise it and analyse it."


def job_input(index: int) -> str:
    return f"Document {index}. Honey bees live in colonies; workers gather nectar and the queen lays eggs."


@dataclass(frozen=True)
class WorkerModel:
    """One worker's simulated model."""

    capability: str
    latency_s: float
    tokens_per_second: float
    added_latency_s: float = 0.0  # on the peer's direct-stream writes ("slow peer")
    liar: str = ""  # the liars scenario: how this worker lies (``liars.KINDS``); "" honest

    def spec(self, name: str, words: int) -> str:
        """The ``--model CAP=SPEC`` argument for a peer process."""
        return (f"{self.capability}=sim:{name}?latency={self.latency_s:.6f}"
                f"&tps={self.tokens_per_second:.6f}&words={words}")


def draw_worker(slot: int, generation: int, ncaps: int, latency: Dist, tps: Dist, slow: bool,
                slow_latency: Dist, seed: int) -> WorkerModel:
    """The model of worker ``slot``'s ``generation``-th incarnation (seeded)."""
    rng = np.random.default_rng([seed, slot, generation])
    return WorkerModel(stage_capability(slot, ncaps), latency.draw(rng), tps.draw(rng),
                       slow_latency.draw(rng) if slow else 0.0)


def slow_slots(workers: int, fraction: float, seed: int) -> frozenset[int]:
    """Which worker slots get added latency: ``round(fraction * workers)`` of them."""
    count = round(fraction * workers)
    rng = np.random.default_rng([seed, 7])
    return frozenset(int(i) for i in rng.choice(workers, size=count, replace=False)) if count else frozenset()
