"""One exception tree for hivemesh.

Errors from libp2p, redis, anthropic and llama.cpp are translated into this
tree where they enter; the CLI turns any ``HivemeshError`` into one readable
line and an exit code.

    HivemeshError
    ├── ConfigError              bad settings, unknown keys, bad multiaddr
    ├── IdentityError            missing, corrupt or too-open key file
    ├── DecodeError              a wire message failed a check (malformed,
    │   └── FrameTooLarge        wrong type, unknown field, over its size limit)
    ├── AdvertRejected           a signed advert failed verification (.reason)
    ├── MeshError                networking: dial failures, no bootstrap
    │   ├── PeerUnreachable
    │   └── StreamBroken         a stream was reset or failed under us
    ├── ModelError               model backends
    │   ├── ModelNotFound        missing model file / package
    │   ├── BackendUnavailable   optional dependency not installed
    │   └── ContextOverflow      prompt longer than the model's context
    ├── TaskError                a worker refused or failed a subtask (.code)
    │   ├── CapabilityMissing
    │   ├── WorkerBusy
    │   ├── DeadlineExceeded
    │   └── WrongModel           the peer does not serve the pinned weights
    ├── PlanError                a plan is invalid or could not be made
    ├── StoreError               job store problems
    │   └── StoreUnavailable     Redis unreachable / lost
    ├── JobFailed                a job ended in failure (.reason)
    └── GatewayBusy              a gateway (or, at the client, every elected
                                 one until its deadline) did not take a new
                                 job: not a failure (.retry_after_s)
"""

from __future__ import annotations


class HivemeshError(Exception):
    """Base of every error hivemesh raises on purpose."""

    exit_code = 1


class ConfigError(HivemeshError):
    exit_code = 2


class IdentityError(HivemeshError):
    exit_code = 2


class DecodeError(HivemeshError):
    """A message from the network failed a check; it is dropped and counted."""


class FrameTooLarge(DecodeError):
    pass


class AdvertRejected(HivemeshError):
    """An advert failed verification. ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"advert rejected: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason


class MeshError(HivemeshError):
    exit_code = 3


class PeerUnreachable(MeshError):
    pass


class StreamBroken(MeshError):
    """A stream was reset, or its connection failed, while we used it: the
    other side went away (or hung up on us), which is no proof of misbehaviour."""


class ModelError(HivemeshError):
    pass


class ModelNotFound(ModelError):
    exit_code = 2


class BackendUnavailable(ModelError):
    exit_code = 2


class ContextOverflow(ModelError):
    pass


class TaskError(HivemeshError):
    """A worker answered a subtask with an error. ``code`` is stable."""

    code = "failed"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class CapabilityMissing(TaskError):
    code = "capability_missing"


class WorkerBusy(TaskError):
    code = "busy"


class DeadlineExceeded(TaskError):
    code = "deadline"


class WrongModel(TaskError):
    """An assignment or check pinned a model hash this peer does not serve."""

    code = "wrong_model"


class PlanError(HivemeshError):
    pass


class StoreError(HivemeshError):
    pass


class StoreUnavailable(StoreError):
    exit_code = 3


class JobFailed(HivemeshError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayBusy(HivemeshError):
    """A job was not taken: too much in flight. Try again after ``retry_after_s``."""

    exit_code = 4

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


def first_error(exc: BaseException, cls: type[HivemeshError] = HivemeshError) -> HivemeshError | None:
    """The first ``cls`` error in ``exc``, looking inside (trio's) exception groups."""
    if isinstance(exc, cls):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_error(inner, cls)
            if found is not None:
                return found
    return None
