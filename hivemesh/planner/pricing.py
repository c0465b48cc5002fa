"""Claude prices and what a job would have cost done only in the cloud.

Prices are USD per million tokens: Anthropic's published list prices as of
writing (late 2025), without batch or prompt-caching discounts. Update the
table when they change; an unknown model is a ``ConfigError``, not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hivemesh.errors import ConfigError
from hivemesh.planner.chunking import approx_tokens


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


# List prices as of writing; see https://www.anthropic.com/pricing
PRICES: dict[str, Price] = {
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
}

_DATE_SUFFIX = re.compile(r"-\d{8}$")


def price(model: str) -> Price:
    """The price of ``model``; dated snapshots (``...-20250929``) and a
    ``claude:`` planner prefix are accepted."""
    name = _DATE_SUFFIX.sub("", model.removeprefix("claude:"))
    name = name.removesuffix("-latest")
    try:
        return PRICES[name]
    except KeyError:
        known = ", ".join(sorted(PRICES))
        raise ConfigError(f"no price for model {model!r} (known: {known})") from None


def cloud_usd(model: str, in_tokens: int, out_tokens: int) -> float:
    """What ``in_tokens`` input and ``out_tokens`` output tokens cost on ``model``."""
    if in_tokens < 0 or out_tokens < 0:
        raise ValueError("token counts must be >= 0")
    p = price(model)
    return (in_tokens * p.input_per_mtok + out_tokens * p.output_per_mtok) / 1_000_000


def cloud_only_tokens(job_text: str, inputs_chars: int) -> int:
    """Input tokens for sending the job and all its input to the cloud, with
    the system prompt a cloud-only answer uses (chars/4)."""
    from hivemesh.planner.prompts import ANSWER_SYSTEM

    return approx_tokens(len(ANSWER_SYSTEM) + len(job_text) + inputs_chars)


def cloud_only_estimate(model: str, job_text: str, inputs_chars: int, output_tokens: int) -> float:
    """USD the whole job would have cost done by ``model`` alone.

    Input is the system prompt, the job text and every input character (~4
    chars per token); ``output_tokens`` is the length of the whole answer (use
    the mesh's answer: every section of it).
    """
    return cloud_usd(model, cloud_only_tokens(job_text, inputs_chars), output_tokens)
