"""Scoring a claimed output with llama.cpp: one prefill pass, logits where the checker looks.

The prompt is evaluated as a generation evaluates it (one batch); the claimed
output tokens follow in batches, with logits (at most ``CHUNK`` rows per
decode) only at the rows just before the claimed tokens to score: every
token, or the positions a spot check drew (``scoring.spot_positions``).
llama.cpp then skips the output layer (262k-wide for Gemma) at every other
row, and no token after the last scored one is decoded. So the checker reads,
for each scored token, the logits the model had just before it. Those
logits get the repeat penalty the worker's sampler applied (llama.cpp's: over
the last ``PENALTY_LAST_N`` sampled tokens, a positive logit divided by the
penalty, a negative one multiplied), so an honest greedy token is the argmax
again. For each scored token we keep its
rank (how many tokens scored higher) and its gap to the argmax in
log-probability at temperature 1 (``logit_max - logit_claimed``).

The claim is text, and text re-tokenised need not be the tokens the model
sampled (a model may spell ``saraj`` as ``sar|a|j`` where the tokenizer says
``sara|j``). Where a claimed token is not the model's choice but the model's
choice spells the start of the rest of the text, the rest is re-tokenised
after the model's token and scoring goes on from there (at most
``MAX_REALIGN`` times per output), so honest text is scored on the model's
own path; a liar gains nothing, since only the model's argmax is followed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

CHUNK = 64  # rows of logits per decode at most: 64 x 262k vocabulary x 4 bytes = 64 MiB
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size, the window of its repeat penalty
MAX_REALIGN = 4

Realign = Callable[[list[int], int, int], "list[int] | None"]


def score_tokens(llm: Any, prompt: list[int], output: list[int], repeat_penalty: float,
                 realign: Realign | None = None,
                 positions: Collection[int] | None = None) -> tuple[list[int], list[float]]:
    """Ranks and gaps of the ``output`` tokens at ``positions`` (indices into
    ``output``; every token when None) after ``prompt`` (``llm`` is a
    llama_cpp.Llama; its state is reset first). The whole sequence runs
    through the model, but llama.cpp computes logits (the 262k-wide output
    layer) only at the rows just before a wanted token. ``realign(output, j,
    argmax)`` gives the tokens to go on with when the model's ``argmax`` at
    ``j`` spells the claimed text otherwise, or None."""
    wanted = set(range(len(output)) if positions is None else positions)
    llm.reset()
    base, n_vocab = len(prompt), llm.n_vocab()
    window: deque[int] = deque(maxlen=PENALTY_LAST_N)
    ranks: list[int] = []
    gaps: list[float] = []
    rows: dict[int, np.ndarray] = {}
    cached = 0  # tokens of prompt + output held in llama.cpp's cache
    realigned, j = 0, 0
    while j < len(output):
        if j in wanted:
            while j not in rows:
                rows, cached = _decode(llm, prompt + output, cached, base, wanted, n_vocab)
            rank, gap, argmax = _judge_row(rows[j], output[j], window, repeat_penalty)
            if rank and realign is not None and realigned < MAX_REALIGN:
                other = realign(output, j, argmax)
                if other is not None:  # positions before base + j (prompt, output[:j]) stay cached
                    output, realigned, rows, cached = other, realigned + 1, {}, base + j
                    rank, gap = 0, 0.0
            ranks.append(rank)
            gaps.append(gap)
        window.append(output[j])
        j += 1
    return ranks, gaps


def _decode(llm: Any, tokens: list[int], start: int, base: int, wanted: set[int],
            n_vocab: int) -> tuple[dict[int, np.ndarray], int]:
    """Decode ``tokens`` from ``start`` (at most a batch, at most ``CHUNK``
    rows of logits): the logits row before each wanted output token (keyed
    by its index in the output), and how many tokens are now cached."""
    llm._ctx.kv_cache_seq_rm(-1, start, -1)
    batch = llm._batch.batch
    flagged: list[tuple[int, int]] = []
    n = 0
    end = min(len(tokens), start + llm.n_batch, base + max(wanted, default=0))  # none after the last row
    if start < base:  # the prompt alone first, as a generation evaluates it
        end = min(end, base)
    for p in range(start, end):
        out = (p - base + 1) in wanted  # the row at p scores output[p - base + 1]
        if out and len(flagged) == CHUNK:
            break
        batch.token[n], batch.pos[n], batch.n_seq_id[n], batch.logits[n] = tokens[p], p, 1, out
        batch.seq_id[n][0] = 0
        if out:
            flagged.append((p - base + 1, n))
        n += 1
    batch.n_tokens = n
    llm._ctx.decode(llm._batch)
    llm.input_ids[start: start + n] = tokens[start: start + n]
    llm.n_tokens = start + n
    # views of llama.cpp's own buffer, no copy: every row is read (and
    # penalised in place) before the next decode overwrites it
    return {j: np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,)) for j, i in flagged}, start + n


def _judge_row(logits: np.ndarray, target: int, window: deque[int], penalty: float) -> tuple[int, float, int]:
    """(rank, gap, argmax) of ``target`` under the penalised ``logits``."""
    if penalty != 1.0 and window:
        seen = np.fromiter(Counter(window), dtype=np.int64)
        values = logits[seen]
        logits[seen] = np.where(values > 0, values / penalty, values * penalty)
    claimed = logits[target]
    argmax = int(logits.argmax())
    return int(np.count_nonzero(logits > claimed)), float(logits[argmax] - claimed), argmax


def realigner(llm: Any, text: bytes) -> Realign:
    """``realign`` for ``score_tokens`` over the claimed ``text``."""

    def realign(output: list[int], j: int, argmax: int) -> list[int] | None:
        done = llm.detokenize(output[:j])
        piece = llm.detokenize(output[:j] + [argmax])[len(done):]
        if not piece or not text.startswith(done) or not text[len(done):].startswith(piece):
            return None
        rest = text[len(done) + len(piece):]
        tail = llm.tokenize(rest, add_bos=False, special=False) if rest else []
        return output[:j] + [argmax] + tail

    return realign
