"""GGUF models through llama-cpp-python.

``messages`` requests use the GGUF's chat template when it has one, rendered
by the same ``Jinja2ChatFormatter`` that ``create_chat_completion`` uses (we
render it ourselves because ``create_chat_completion`` takes no stopping
criteria, our cancel hook); a model without one (a base model) gets the
messages as a plain ``Role: text`` transcript ending in ``Assistant:``.
``json_schema`` requests are constrained with a grammar built from the schema.

Context policy (``fit_max_tokens``): a prompt of ``n_ctx`` tokens or more is a
``ContextOverflow`` before anything is generated; a shorter prompt gets at
most the room left, and a clamped generation ends with ``"length"``.

Every generation evaluates its whole prompt (no prefix reused from the last
call), so a request and its seed give the same text whatever ran before.

Cancellation is checked after every sampled token through llama.cpp's
stopping criteria, so the generation stops within one token of ``cancel``
being set, and token counts come from llama.cpp's own usage numbers.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hivemesh.errors import BackendUnavailable, ContextOverflow, ModelError, ModelNotFound
from hivemesh.models.identity import file_sha256, quant_name
from hivemesh.models.base import (
    PLAIN_STOP,
    Completion,
    CompletionRequest,
    fit_max_tokens,
    render_plain,
)
from hivemesh.models.scoring import (
    GREEDY,
    CheckPolicy,
    CheckVerdict,
    escalates,
    judge,
    policy_for,
    spot_positions,
)

try:
    import llama_cpp

    _IMPORT_ERROR: Exception | None = None
except (ImportError, OSError) as exc:  # reported when a model is loaded, not at import
    llama_cpp = None
    _IMPORT_ERROR = exc

log = logging.getLogger(__name__)
native_log = logging.getLogger(__name__ + ".native")

LOCK_POLL_S = 0.05
REPEAT_PENALTY = 1.1  # llama.cpp's classic default; small models loop without it
# ggml log levels (NONE, DEBUG, INFO, WARN, ERROR, CONT) -> logging. llama.cpp's
# warnings are notes about defaults, and its errors surface as exceptions we
# translate, so both are logged one step lower.
NATIVE_LEVELS = {3: logging.INFO, 4: logging.WARNING}
_native_callback: Any = None


def _require_llama_cpp() -> Any:
    if llama_cpp is None:
        raise BackendUnavailable(
            f"GGUF models need llama-cpp-python ({_IMPORT_ERROR}): pip install llama-cpp-python"
        )
    _route_native_logs(llama_cpp)
    return llama_cpp


def _route_native_logs(lib: Any) -> None:
    """Sends llama.cpp's own log lines to ``native_log`` instead of stderr."""
    global _native_callback
    if _native_callback is not None:
        return

    @lib.llama_log_callback
    def forward(level: int, text: bytes, user_data: Any) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        if line:
            native_log.log(NATIVE_LEVELS.get(level, logging.DEBUG), "%s", line)

    _native_callback = forward  # ctypes needs the callback kept alive
    lib.llama_log_set(forward, ctypes.c_void_p(0))


def default_threads() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppModel:
    """A GGUF model in llama.cpp; one generation at a time."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        seed: int = 0,
    ) -> None:
        self.path = _check_file(Path(path).expanduser())
        lib = _require_llama_cpp()
        self.name = name or self.path.stem
        self.seed = seed
        self._lock = threading.Lock()
        self.spot_rng = random.SystemRandom()  # spot checks' positions: secret from the producer
        started = time.monotonic()
        self._llm = _load(lib, self.path, n_ctx, n_threads or default_threads(), n_gpu_layers, seed)
        self.context_size = self._llm.n_ctx()
        self.chat_template = self._llm.metadata.get("tokenizer.chat_template")
        self.model_hash = file_sha256(self.path)  # the weights, pinned: adverts and checks name them
        self.quant = quant_name(self._llm.metadata.get("general.file_type"))
        self._chat = _chat_formatter(lib, self._llm, self.chat_template)
        log.info(
            "model loaded name=%s path=%s sha256=%s quant=%s n_ctx=%d chat_template=%s seconds=%.2f",
            self.name,
            self.path,
            self.model_hash[:16],
            self.quant,
            self.context_size,
            self.chat_template is not None,
            time.monotonic() - started,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone (no BOS); waits for a running generation."""
        with self._lock:
            return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    streams = True  # generate(..., on_token=) hands out the text as llama.cpp makes it

    def generate(
        self, request: CompletionRequest, cancel: threading.Event | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion:
        started = time.monotonic()
        if not _acquire(self._lock, cancel):
            return self._cancelled(started)
        try:
            return self._generate_locked(request, cancel, started, on_token)
        finally:
            self._lock.release()

    def score(self, request: CompletionRequest, output_text: str,
              policy: CheckPolicy | None = None) -> CheckVerdict:
        """Checks that ``output_text`` is what this model would answer to
        ``request``: one prefill pass over prompt + output (``llama_score``),
        logits at the spot-checked positions (``scoring.spot_positions``), at
        every position when the spot check saw a token far from the model's."""
        started = time.monotonic()
        policy = policy or policy_for(request.temperature)
        with self._lock:
            ranks, gaps = self._score_locked(request, output_text, policy)
        return judge(ranks, gaps, policy, time.monotonic() - started)

    def token_scores(self, request: CompletionRequest, output_text: str) -> tuple[list[int], list[float]]:
        """Rank and gap of every claimed token (no spot check): what a spot
        check would read at the positions it draws (``bench/calibrate.py``)."""
        with self._lock:
            return self._score_locked(request, output_text, dataclasses.replace(GREEDY, spot_share=1.0))

    def _score_locked(self, request: CompletionRequest, output_text: str,
                      policy: CheckPolicy) -> tuple[list[int], list[float]]:
        from hivemesh.models.llama_score import realigner, score_tokens

        prompt, _ = self._prompt(request)
        output = self._llm.tokenize(output_text.encode(), add_bos=False, special=False)
        if not output:
            return [], []
        if len(prompt) + len(output) > self.context_size:
            raise ContextOverflow(f"prompt and output are {len(prompt) + len(output)} tokens, "
                                  f"the model's context is {self.context_size}")
        realign = realigner(self._llm, output_text.encode())
        positions = spot_positions(len(output), policy.spot_share, self.spot_rng)
        try:
            ranks, gaps = score_tokens(self._llm, prompt, output, REPEAT_PENALTY, realign, positions)
            if positions is not None and escalates(gaps, policy):
                ranks, gaps = score_tokens(self._llm, prompt, output, REPEAT_PENALTY, realign)
        except (ValueError, RuntimeError) as exc:
            raise _translate(exc) from exc
        return ranks, gaps

    def close(self) -> None:
        """Frees the model's memory; the object is unusable afterwards."""
        with self._lock:
            self._llm.close()

    def _generate_locked(
        self, request: CompletionRequest, cancel: threading.Event | None, started: float,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion:
        tokens, stop = self._prompt(request)
        fit_max_tokens(len(tokens), request.max_tokens, self.context_size)
        stopper = _CancelStopper(cancel)
        # No prompt prefix reused from the last call: evaluating only a prompt's
        # tail takes another numeric path (batch size), so the same request with
        # the same seed could give other text after other requests (seen on CI).
        self._llm.reset()
        stops = [s for s in (*request.stop, *stop) if s]
        try:
            if on_token is not None:
                return self._streamed(tokens, stops, request, stopper, started, on_token)
            out = self._llm.create_completion(prompt=tokens, stop=stops, **self._sampling_kwargs(request, stopper))
        except (ValueError, RuntimeError) as exc:
            raise _translate(exc) from exc
        return self._completion(out, out["choices"][0]["text"], stopper, started)

    def _streamed(self, tokens: list[int], stops: list[str], request: CompletionRequest,
                  stopper: _CancelStopper, started: float, on_token: Callable[[str], None]) -> Completion:
        """The same generation, its text handed to ``on_token`` as llama.cpp
        releases it (held back only while it might be a stop string's start).
        Completion tokens are those llama.cpp sampled (counted by the stopper)."""
        parts: list[str] = []
        finish = "stop"
        sampled = self._count_sampled()
        try:
            for chunk in self._llm.create_completion(prompt=tokens, stop=stops, stream=True,
                                                     **self._sampling_kwargs(request, stopper)):
                choice = chunk["choices"][0]
                if choice["text"]:
                    parts.append(choice["text"])
                    on_token(choice["text"])
                finish = choice.get("finish_reason") or finish
        finally:
            del self._llm.sample  # the class's own again
        eog = bool(sampled) and llama_cpp.llama_vocab_is_eog(self._llm._model.vocab, sampled[-1])
        usage = {"prompt_tokens": len(tokens), "completion_tokens": len(sampled) - eog}
        return self._completion({"usage": usage, "choices": [{"finish_reason": finish}]}, "".join(parts),
                                stopper, started)

    def _count_sampled(self) -> list[int]:
        """Record the tokens llama.cpp samples in this generation (streamed
        completions carry no usage; an end-of-generation token is not counted,
        as in the plain completion's usage)."""
        sampled: list[int] = []
        sample = self._llm.sample

        def counting(*args: Any, **kwargs: Any) -> int:
            token = sample(*args, **kwargs)
            sampled.append(token)
            return token

        self._llm.sample = counting  # an instance attribute: only this model, only until deleted
        return sampled

    def _prompt(self, request: CompletionRequest) -> tuple[list[int], list[str]]:
        """The prompt's tokens, as llama.cpp will see them, and extra stop strings."""
        if request.messages is None:
            return self._tokenize(request.prompt or "", add_bos=True), []
        if self._chat is None:
            return self._tokenize(render_plain(request.messages), add_bos=True), list(PLAIN_STOP)
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            rendered = self._chat(messages=messages)
        except Exception as exc:  # jinja2 errors and the template's raise_exception
            raise ModelError(f"{self.name}: chat template failed: {exc}") from exc
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        tokens = self._tokenize(rendered.prompt, add_bos=not rendered.added_special)
        return tokens, stop

    def _tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=add_bos, special=True)

    def _sampling_kwargs(self, request: CompletionRequest, stopper: _CancelStopper) -> dict:
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "repeat_penalty": REPEAT_PENALTY,
            "seed": self.seed if request.seed is None else request.seed,
            "stopping_criteria": llama_cpp.StoppingCriteriaList([stopper]),
        }
        if request.json_schema is not None:
            kwargs["grammar"] = _grammar(request.json_schema)
        return kwargs

    def _completion(
        self, out: dict, text: str, stopper: _CancelStopper, started: float
    ) -> Completion:
        usage = out["usage"]
        finish = out["choices"][0].get("finish_reason") or "stop"
        completion = Completion(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=time.monotonic() - started,
            finish_reason="cancelled" if stopper.tripped else finish,
            model=self.name,
        )
        log.debug(
            "model done name=%s tokens=%d finish=%s seconds=%.2f",
            self.name,
            completion.completion_tokens,
            completion.finish_reason,
            completion.seconds,
        )
        return completion

    def _cancelled(self, started: float) -> Completion:
        seconds = time.monotonic() - started
        return Completion("", 0, 0, seconds, "cancelled", model=self.name)


class _CancelStopper:
    """llama.cpp stopping criterion: stop once ``cancel`` is set."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.tripped = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            self.tripped = True
        return self.tripped


def _check_file(path: Path) -> Path:
    if not path.is_file():
        raise ModelNotFound(f"model file not found: {path}")
    if not os.access(path, os.R_OK):
        raise ModelNotFound(f"model file not readable: {path}")
    return path


def _load(lib: Any, path: Path, n_ctx: int, threads: int, gpu_layers: int, seed: int) -> Any:
    try:
        return lib.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=gpu_layers,
            seed=seed,
            verbose=False,
        )
    except ValueError as exc:  # llama-cpp-python's "failed to load model"
        raise ModelNotFound(f"could not load model file {path}: {exc}") from exc


def _chat_formatter(lib: Any, llm: Any, template: str | None) -> Any:
    """The GGUF's chat template as llama-cpp-python renders it, or None."""
    if template is None:
        return None
    return lib.llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llm, llm.token_eos()),
        bos_token=_token_text(llm, llm.token_bos()),
    )


def _token_text(llm: Any, token: int) -> str:
    if token == -1:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace")


def _acquire(lock: threading.Lock, cancel: threading.Event | None) -> bool:
    """Takes ``lock``, giving up (False) if ``cancel`` is set while waiting."""
    while not lock.acquire(timeout=LOCK_POLL_S):
        if cancel is not None and cancel.is_set():
            return False
    if cancel is not None and cancel.is_set():
        lock.release()
        return False
    return True


@functools.lru_cache(maxsize=32)
def _grammar(schema: str) -> Any:
    """A llama.cpp grammar for a JSON Schema document (cached by its text)."""
    try:
        return llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False)
    except Exception as exc:  # the converter raises plain exceptions of many kinds
        raise ModelError(f"cannot turn this JSON schema into a grammar: {exc}") from exc


def _translate(exc: Exception) -> Exception:
    if "exceed context window" in str(exc):
        return ContextOverflow(str(exc))
    return ModelError(f"llama.cpp failed: {exc}")
