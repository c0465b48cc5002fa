"""The pipeline's checks of untrusted outputs: the part of ``pipeline.step``
that holds a checked stage's report until its verdict is in. Pure.

Which outputs are checked is the executor's choice (its trust book samples
them) and reaches the state machine in ``Placed.checked``: a checked stage is
sent with no downstream routes, so its output goes nowhere but back to the
gateway. Its report is then held (``Sub.checking``) and an ``AskCheck`` goes
out, with a deadline (``Timing.check_wait_s``). The verdict:

- accepted, or unchecked (no checker could run it): the held report is taken
  as if it had just arrived, and the producer sends the output on to the
  stages that need it (the ordinary ``AskResend`` of a finished report);
- rejected (two checkers rejected it): the offences are charged, the peer is
  excluded and the stage runs again elsewhere; nothing downstream used the
  output, so nothing else is recomputed;
- no verdict by the deadline: the stage runs again elsewhere (no strike).

Unchecked outputs flow worker to worker as before, never held up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from hivemesh.gateway.pipestate import AskCheck, CheckDone, Ignored, Penalize, StageDone

if TYPE_CHECKING:
    from hivemesh.gateway.pipeline import _Work

__all__ = ["hold", "check_done", "overdue", "CLEARED"]

#: what placing a subtask again resets: the next attempt's check is decided anew
CLEARED = dict(checked=False, checking=None, check_deadline=None)


def hold(w: _Work, e: StageDone) -> bool:
    """Hold ``e`` (a finished, verified report whose inputs are all done) for
    its check when its stage was to be checked; True when held."""
    sub = w.subs[e.sid]
    if sub.checking is not None:  # the same report again, while its check runs
        w.actions.append(Ignored("done", e.sid, e.attempt))
        return True
    if not sub.checked:
        return False
    w.set(e.sid, checking=e, check_deadline=e.now + w.t.check_wait_s, runnable_since=None)
    w.actions.append(AskCheck(e.sid, e.attempt, e.peer, e.output_hash, MappingProxyType(dict(e.used))))
    return True


def check_done(w: _Work, e: CheckDone, done: Callable[[_Work, StageDone], None]) -> None:
    for peer, offence in e.penalize:  # proven whatever became of the stage since
        w.actions.append(Penalize(peer, offence))
    sub = w.subs[e.sid]
    held = sub.checking
    if held is None or sub.attempt != e.attempt or sub.peer != e.peer or sub.status != "running":
        w.actions.append(Ignored("check", e.sid, e.attempt))
        return
    w.set(e.sid, **CLEARED)
    if e.verdict == "rejected":
        w.failed(e.sid, e.peer, f"output failed its check: {e.detail}"[:300], strike=False, now=e.now)
        return
    check = "passed" if e.verdict == "accepted" else f"not checked: {e.detail or 'no checker could run'}"
    done(w, replace(held, now=e.now, check=check))  # not ``checked`` now: it goes through as a report just in


def overdue(w: _Work, sid: str, now: float) -> bool:
    """For ``DeadlinePassed``: True when ``sid`` waits for a check (the caller
    skips its other clocks); a check past its deadline runs the stage again."""
    sub = w.subs[sid]
    if sub.checking is None:
        return False
    if sub.check_deadline is not None and now >= sub.check_deadline:
        w.set(sid, **CLEARED)
        w.failed(sid, sub.peer, f"no check verdict within {w.t.check_wait_s:.0f}s", strike=False, now=now)
    return True
