"""What a job cost in the cloud, what the mesh did, and what was saved. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hivemesh.gateway.jobwire import Accounting, Quality, SubtaskReport
from hivemesh.planner.pricing import PRICES, cloud_only_estimate, cloud_usd

#: the model a job is priced against when no Claude model planned it
REFERENCE_MODEL = "claude-sonnet-4-5"


def is_cloud_model(model: str) -> bool:
    name = model.removeprefix("claude:")
    return any(name.startswith(known) for known in PRICES)


def account(
    cloud_model: str,
    cloud_in: int,
    cloud_out: int,
    reports: Iterable[SubtaskReport],
    job_text: str,
    input_chars: int,
    answer_tokens: int,
    quality: Quality | None = None,
) -> Accounting:
    reports = list(reports)
    """``cloud_model`` is the model billed for ``cloud_in``/``cloud_out`` (a
    planner or aggregator); ``answer_tokens`` the length of the whole answer."""
    cloud = is_cloud_model(cloud_model)
    model = cloud_model if cloud else REFERENCE_MODEL
    by_peer: Counter[str] = Counter()
    for r in reports:
        if not r.cached:
            by_peer[r.peer_id] += r.tokens
    spent = cloud_usd(model, cloud_in, cloud_out) if cloud else 0.0
    cloud_only = cloud_only_estimate(model, job_text, input_chars, answer_tokens)
    return Accounting(
        cloud_model=model if cloud else f"none (priced against {model})",
        cloud_input_tokens=cloud_in, cloud_output_tokens=cloud_out, cloud_tokens=cloud_in + cloud_out,
        mesh_tokens=sum(by_peer.values()), mesh_tokens_by_peer=dict(by_peer),
        cloud_usd=round(spent, 6), cloud_only_usd=round(cloud_only, 6),
        saved_usd=round(cloud_only - spent, 6), quality=quality,
    )
