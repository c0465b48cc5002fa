"""The liars scenario: workers that return wrong outputs, and what the
gateways' checks made of them (the report's ``verification`` block).

A liar advertises the honest weights of its capability (the same simulated
model, so the same hash) but answers otherwise, one of ``KINDS``:

- ``model``: another model's text (a cheaper model behind the honest hash);
- ``random``: random words;
- ``subtle``: the honest text with one word changed;
- ``sometimes``: the subtle lie on a third of its outputs, honest otherwise.

It checks others' outputs honestly (``score`` is the honest model's). Every
lying text's digest goes into a shared set (in-process peers only), so after
the run a completed job whose stored subtasks include one of them counts as a
wrong answer delivered: its answer depended on a lie no check caught.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hivemesh.gateway.jobwire import SubtaskRecord
from hivemesh.gateway.store import JobStore
from hivemesh.mesh import wire
from hivemesh.models.base import Completion, CompletionRequest
from hivemesh.models.scoring import CheckPolicy, CheckVerdict
from hivemesh.models.simulated import FILLER, SimulatedModel
from hivemesh.worker.pipewire import digest

KINDS = ("model", "random", "subtle", "sometimes")
SOMETIMES = 1 / 3


def kind_of(slot: int, liars: int) -> str:
    """Worker slot ``slot``'s kind ("" for an honest worker): the first ``liars`` slots lie, kinds in turn."""
    return KINDS[slot % len(KINDS)] if slot < liars else ""


@dataclass
class Lies:
    """Digests of every lying text made in this run (thread-safe: models run in threads)."""

    digests: set[str] = field(default_factory=set)
    made: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str) -> None:
        with self._lock:
            self.digests.add(digest(text))
            self.made += 1


class LyingModel:
    """``honest``'s advert and checks; ``kind``'s outputs."""

    def __init__(self, honest: SimulatedModel, kind: str, lies: Lies, seed: int | str) -> None:
        if kind not in KINDS:
            raise ValueError(f"liar kind must be one of {', '.join(KINDS)}")
        self.honest, self.kind, self.lies = honest, kind, lies
        self.rnd = random.Random(seed)
        self.cheap = SimulatedModel(honest.name + "-cheap", reply_words=honest.reply_words)
        self.name, self.context_size, self.quant = honest.name, honest.context_size, honest.quant
        self.streams = False

    @property
    def model_hash(self) -> str:
        return self.honest.model_hash  # it claims the honest weights

    @property
    def nonblocking(self) -> bool:
        return self.honest.nonblocking

    def count_tokens(self, text: str) -> int:
        return self.honest.count_tokens(text)

    def score(self, request: CompletionRequest, output_text: str, policy: CheckPolicy | None = None) -> CheckVerdict:
        return self.honest.score(request, output_text, policy)

    def generate(self, request: CompletionRequest, cancel: threading.Event | None = None,
                 on_token: Callable[[str], None] | None = None) -> Completion:
        done = self.honest.generate(request, cancel)
        text = self.lie(done.text, request)
        if text != done.text:
            self.lies.add(text)
        if on_token is not None and text:
            on_token(text)
        return Completion(text=text, prompt_tokens=done.prompt_tokens, completion_tokens=len(text.split()),
                          seconds=done.seconds, finish_reason=done.finish_reason, model=self.name)

    def lie(self, text: str, request: CompletionRequest) -> str:
        words = text.split()
        kind = self.kind
        if kind == "sometimes":
            if self.rnd.random() >= SOMETIMES:
                return text
            kind = "subtle"
        if kind == "model":
            return self.cheap.generate(request).text
        if kind == "random":
            return " ".join(self.rnd.choice(FILLER) for _ in words) + " " + self.rnd.choice(FILLER)
        if not words:
            return "alpha"
        i = self.rnd.randrange(len(words))
        words[i] = next(w for w in FILLER if w != words[i])  # one word changed
        return " ".join(words)


def wrong_answers(store: JobStore, job_ids: list[str], lies: Lies) -> list[str]:
    """Completed jobs whose stored subtask outputs include a lie (blocking)."""
    wrong = []
    for job_id in job_ids:
        records = [wire.decode(SubtaskRecord, raw) for raw in store.get_subtasks(job_id).values()]
        if any(r.status == "done" and r.output_hash in lies.digests for r in records):
            wrong.append(job_id)
    return wrong


def verification(fleet: Any, lies: Lies, wrong: list[str], completed: int) -> dict[str, Any]:
    """The report's ``verification`` block from the gateways' check desks."""
    liars = {p.peer_id for p in fleet.peers if p.role == "worker" and p.model is not None and p.model.liar}
    honest = {p.peer_id for p in fleet.peers if p.role == "worker"} - liars
    desks = [p.handle.extra["gateway"].checks for p in fleet.peers if p.role == "gateway"]
    nodes = [p.handle.node for p in fleet.peers if p.role == "gateway"]
    banned = set().union(*(n.banned() for n in nodes)) if nodes else set()
    stats = sum((d.stats for d in desks), start=type(desks[0].stats)()) if desks else {}
    # the gateways share one trust record: a peer's checked outputs are counted once (the fullest copy)
    honest_checked = sum(max((d.book.record(p).checked for d in desks), default=0) for p in honest)
    before_ban = [d.banned_after[p] for d in desks for p in liars if p in d.banned_after]
    stages = stats.get("stages_new", 0) + stats.get("stages_trusted", 0)
    checked = stats.get("checked_new", 0) + stats.get("checked_trusted", 0)
    return {
        "liars": len(liars),
        "liar_kinds": sorted(p.model.liar for p in fleet.peers if p.peer_id in liars),
        "liars_banned": len(liars & banned),
        "liars_banned_by_every_gateway": sum(all(p in n.banned() for n in nodes) for p in liars),
        "liar_outputs_before_ban_max": max(before_ban, default=None),
        # per liar: its outputs that reached a gateway's check desk (all gateways), banned or not
        "liar_outputs": sorted(sum(d.produced[p] for d in desks) for p in liars),
        "honest_banned": len(honest & banned),
        "honest_subtasks_checked": honest_checked,
        "subtasks_checked": checked,
        "checks_run": stats.get("checks_run", 0),
        "checks_failed": stats.get("checks_failed", 0),
        "third_opinions": stats.get("third_opinions", 0),
        "checks_unchecked": stats.get("checks_unchecked", 0) + stats.get("stages_uncheckable", 0),
        "lies_made": lies.made,
        "wrong_answers_delivered": len(wrong),
        "wrong_answer_share": round(len(wrong) / completed, 4) if completed else None,
        "check_cost_share": round(stats.get("checks_run", 0) / stages, 4) if stages else None,
        "checked_share_trusted": (round(stats["checked_trusted"] / stats["stages_trusted"], 4)
                                  if stats.get("stages_trusted") else None),
        "stages_placed": stages,
        # per gateway: outputs it had checked, and those checked because their producer was new to it
        "checked_per_gateway": [d.stats.get("checked_new", 0) + d.stats.get("checked_trusted", 0) for d in desks],
        "checked_new_per_gateway": [d.stats.get("checked_new", 0) for d in desks],
        "checks_run_per_gateway": [d.stats.get("checks_run", 0) for d in desks],
        "bans_shared": stats.get("bans_shared", 0),
    }
