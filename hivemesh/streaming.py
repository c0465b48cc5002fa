"""Showing a job's answer as it grows: pure bookkeeping over job events.

``token`` events carry the answer stage's text from an ``offset``; a client
that re-attached to another gateway may see text again, and a job whose
answer was cached, aggregated or made by a tool sees no tokens at all. An
``AnswerStream`` turns any such sequence into text shown once, in order, and
completes it from the result at the end.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hivemesh.gateway.jobwire import JobEvent, JobResult


@dataclass
class AnswerStream:
    shown: str = ""
    #: the final answer did not continue what was shown (a repaired stage
    #: answered differently, or an aggregator rewrote it)
    diverged: bool = False

    def feed(self, event: JobEvent) -> str:
        """The new text to show for ``event`` ("" for none)."""
        if event.kind == "token":
            return self._extend(event.offset, event.detail)
        if event.terminal and event.result is not None and event.result.status == "done":
            answer = event.result.answer
            if answer.startswith(self.shown):
                return self._extend(len(self.shown), answer[len(self.shown):])
            self.diverged = True
        return ""

    def _extend(self, offset: int, text: str) -> str:
        if offset > len(self.shown):
            return ""  # a gap: wait for the answer to fill it
        end = offset + len(text)
        if end <= len(self.shown) or self.shown[offset:] != text[: len(self.shown) - offset]:
            return ""  # already shown, or not a continuation of it
        new = text[len(self.shown) - offset:]
        self.shown += new
        return new


_END = object()


@dataclass
class TextStream:
    """The answer of one job as it grows (iterate for text pieces); ``result``
    is the ``JobResult`` once iteration ends. Runs the job in a thread."""

    start: Callable[[Callable[[JobEvent], None]], JobResult]
    result: JobResult | None = None
    _queue: queue.Queue[Any] = field(default_factory=queue.Queue)

    def __iter__(self) -> Iterator[str]:
        answer = AnswerStream()

        def on_event(event: JobEvent) -> None:
            piece = answer.feed(event)
            if piece:
                self._queue.put(piece)

        def run() -> None:
            try:
                self._queue.put(self.start(on_event))
            except BaseException as exc:  # handed to the iterating thread
                self._queue.put(exc)
            self._queue.put(_END)

        threading.Thread(target=run, name="hivemesh-stream", daemon=True).start()
        while (item := self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, JobResult):
                self.result = item
            else:
                yield item
