"""The gateway's check desk: which stage outputs are checked, by whom, and
the verdict the pipeline gets (``pipestate.CheckDone``). The trio side of
``trust``: the decisions are the ``TrustBook``'s, this module asks the peers.

One desk per gateway, shared by its jobs. At placement ``should_check``
samples the producer's output (every one of a new peer's, a share of a
trusted peer's) when another peer serving the same weights could check it;
the stage is then pinned to those weights. When the held report is in,
``verdict`` renders the prompt the producer ran (the job's template, its
inputs, and the upstream outputs the producer returned, each matched to the
hash of the output the gateway accepted), asks a checker chosen here (never
the producer, same weights, trusted peers first) and, after a rejection, a
third. A check that cannot run anywhere leaves the output unchecked; a
rejection with no third checker to confirm it runs the stage again without
charging anyone.

The book's records are the gateways' shared ones (``share``: the store's
trust record, ``gateway.trustshare``): a worker trusted through another
gateway is trusted here, and one banned by another gateway is banned here.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hivemesh.errors import HivemeshError
from hivemesh.gateway import pipestate as ps
from hivemesh.gateway.trust import Decision, TrustBook, TrustSettings, pick_checker
from hivemesh.gateway.trustshare import SharedTrust
from hivemesh.planner.template import fill
from hivemesh.worker.checker import call_check
from hivemesh.worker.checkwire import MAX_OUTPUT_BYTES, MAX_PROMPT_BYTES, CheckRequest
from hivemesh.worker.pipewire import StageAssign, digest

if TYPE_CHECKING:
    from hivemesh.gateway.store import JobStore
    from hivemesh.mesh.node import MeshNode

log = logging.getLogger(__name__)

CHECK_TRIES = 2  # checkers tried for one opinion before the output counts as unchecked
#: why an output is not checked, as the job's result says it (``SubtaskReport.check``)
NOT_SAMPLED = "not checked: its worker is trusted and this output was not in the sample"
NO_CHECKER = "not checked: no other worker in the mesh serves the same weights"
NO_HASH = "not checked: its worker advertises no model hash for this capability"


@dataclass(frozen=True)
class Produced:
    """A checked stage's output as it came back with its report."""

    assign: StageAssign
    text: str
    inputs: dict[str, str]  # dependency -> the output text the producer says it used


@dataclass
class CheckDesk:
    settings: TrustSettings = field(default_factory=TrustSettings)
    rnd: random.Random = field(default_factory=random.Random)
    book: TrustBook = field(init=False)
    stats: Counter[str] = field(default_factory=Counter)
    #: peer -> its outputs this gateway used or rejected before it banned the peer
    banned_after: dict[str, int] = field(default_factory=dict)
    produced: Counter[str] = field(default_factory=Counter)  # peer -> its outputs that came in
    shared: SharedTrust | None = field(default=None, init=False)  # the gateways' shared record (``share``)

    def __post_init__(self) -> None:
        self.book = TrustBook(self.settings, self.rnd)

    def share(self, store: JobStore, node: MeshNode) -> SharedTrust:
        """Keep the book's records in ``store``, shared with the other gateways
        (the returned shell's ``run`` must run beside the gateway)."""
        self.shared = SharedTrust(store, self.book, on_ban=lambda peer: self._banned_elsewhere(node, peer))
        return self.shared

    def _banned_elsewhere(self, node: MeshNode, peer: str) -> None:
        """The shared record says ``peer`` is banned (by any gateway): banned here too."""
        if peer in node.banned():
            return
        self.banned_after.setdefault(peer, self.produced[peer])
        self.stats["bans_shared"] += 1
        log.warning("peer %s banned: the gateways' shared trust record bans it", peer[-8:])
        node.penalize(peer, "liar")

    # --- at placement ----------------------------------------------------------------

    def should_check(self, node: MeshNode, producer: str, capability: str) -> tuple[str, str]:
        """(the weights to pin, "") when ``producer``'s output of ``capability`` is to be
        checked, else ("", why not: the result tells the user)."""
        if self.shared is not None:
            self.shared.look()  # records too old: every output checked
        entry = node.view.peers.get(producer)
        pin = entry.advert.model_hash_for(capability) if entry is not None else ""
        new = self.book.is_new(producer)
        self.stats["stages_new" if new else "stages_trusted"] += 1
        if not pin:
            self.stats["stages_uncheckable"] += 1
            return "", NO_HASH
        if not self.checkers(node, pin, producer):
            self.stats["stages_uncheckable"] += 1
            return "", NO_CHECKER
        if not self.book.should_check(producer):
            return "", NOT_SAMPLED
        self.stats["checked_new" if new else "checked_trusted"] += 1
        return pin, ""

    def checkers(self, node: MeshNode, pin: str, producer: str, first: str | None = None) -> list[str]:
        banned = node.banned()
        return [p for p, e in node.view.peers.items()
                if p not in (producer, first) and p not in banned and any(m.sha256 == pin for m in e.advert.models)]

    # --- the verdict -------------------------------------------------------------------

    async def verdict(self, node: MeshNode, ask: ps.AskCheck, out: Produced | None, now: float) -> ps.CheckDone:
        self.produced[ask.producer] += 1
        request = self.request(ask, out)
        if request is None:
            self.stats["checks_unchecked"] += 1
            return ps.CheckDone(now, ask.sid, ask.attempt, ask.producer, "unchecked", detail="no prompt to check")
        first, accepted = await self._opinion(node, request, ask.producer, None)
        if first is None:
            self.stats["checks_unchecked"] += 1
            return ps.CheckDone(now, ask.sid, ask.attempt, ask.producer, "unchecked", detail="no checker answered")
        decision = self.book.first_verdict(ask.producer, first, accepted)
        if decision.third_opinion:
            self.stats["third_opinions"] += 1
            third, accepted = await self._opinion(node, request, ask.producer, first)
            if third is None:  # nobody to confirm: run it again, charge no one, check all its outputs again
                self.stats["checks_unconfirmed"] += 1
                self.book.unconfirmed(ask.producer)
                if self.shared is not None:
                    self.shared.wake()
                return ps.CheckDone(now, ask.sid, ask.attempt, ask.producer, "rejected",
                                    detail=f"rejected by {first[-8:]}, unconfirmed")
            decision = self.book.third_verdict(ask.producer, first, accepted)
        if self.shared is not None:
            self.shared.wake()  # the outcome goes to the shared record now
        return self._done(ask, decision, now)

    def _done(self, ask: ps.AskCheck, decision: Decision, now: float) -> ps.CheckDone:
        penalize = decision.penalize + tuple((peer, "liar") for peer in decision.ban)
        for peer in decision.ban:
            self.banned_after.setdefault(peer, self.produced[peer])
            log.warning("peer %s banned: its outputs failed %d checks", peer[-8:], self.settings.ban_failures)
        if decision.use_output:
            self.stats["checks_passed"] += 1
            return ps.CheckDone(now, ask.sid, ask.attempt, ask.producer, "accepted", penalize)
        self.stats["checks_failed"] += 1
        return ps.CheckDone(now, ask.sid, ask.attempt, ask.producer, "rejected", penalize,
                            detail="two checkers rejected it")

    async def _opinion(self, node: MeshNode, request: CheckRequest, producer: str,
                       first: str | None) -> tuple[str | None, bool]:
        """(checker, accepted) from the first checker that answers, or (None, False)."""
        tried: set[str] = set()
        for _ in range(CHECK_TRIES):
            pool = [p for p in self.checkers(node, request.model_hash, producer, first) if p not in tried]
            checker = pick_checker(pool, producer, first, self.rnd, self.book)
            if checker is None:
                return None, False
            tried.add(checker)
            self.stats["checks_run"] += 1
            try:
                statement = await call_check(node, checker, request)
            except HivemeshError as exc:
                log.info("check by %s failed: %s", checker[-8:], exc)
                continue
            return checker, statement.accepted
        return None, False

    def request(self, ask: ps.AskCheck, out: Produced | None) -> CheckRequest | None:
        """The producer's prompt, rendered here from what the gateway knows, or
        None when it cannot be (an input that does not match its hash)."""
        if out is None or not out.assign.model_hash:
            return None
        a = out.assign
        if set(out.inputs) != set(a.depends_on) or any(digest(out.inputs[d]) != ask.used.get(d) for d in a.depends_on):
            return None
        try:
            prompt = fill(a.template, a.job_text, {int(k): v for k, v in a.inputs.items()},
                          {int(k): v for k, v in a.chunks.items()}, out.inputs)
            if len(prompt.encode()) > MAX_PROMPT_BYTES or len(out.text.encode()) > MAX_OUTPUT_BYTES:
                return None
            return CheckRequest(check_id=f"{a.job_id}/{a.subtask_id}/{a.attempt}", model_hash=a.model_hash,
                                prompt=prompt, output=out.text, chat=a.chat, max_tokens=a.max_tokens, stop=a.stop)
        except (HivemeshError, ValueError) as exc:
            log.info("no check of %s: %s", a.subtask_id, exc)
            return None
