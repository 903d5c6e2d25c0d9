"""How a dispatch can fail, in the dispatcher's own terms;
``router.error_mapping.client_error`` words each one for the client, at the edge."""

from dataclasses import dataclass

from serving.errors import EngineError

# Reasons that say a model is down rather than busy.
_DOWN = frozenset({"unavailable", "circuit_open", "provider_error"})


@dataclass(frozen=True)
class Skipped:
    model_id: str
    reason: str  # stale, backpressure, queue, kv_cache, circuit_open, unavailable, ...


class DispatchFailure(Exception):
    """Base of the ways a dispatch fails."""


class NothingFree(DispatchFailure):
    """Every model of the plan was skipped: busy, over budget, or down."""

    def __init__(self, skipped: tuple[Skipped, ...], retry_after_s: int) -> None:
        super().__init__(skipped, retry_after_s)
        self.skipped, self.retry_after_s = skipped, retry_after_s

    @property
    def all_down(self) -> bool:
        """Every model skipped is down, none merely busy (a 503 rather than a 429)."""
        return all(s.reason in _DOWN for s in self.skipped)

    def reasons(self) -> str:
        return ", ".join(f"{s.model_id}: {s.reason}" for s in self.skipped)


class DeadlinePassed(DispatchFailure):
    """The generation ran past ``router.request_timeout_s``: stopped, its slot freed."""


class EngineFailure(DispatchFailure):
    """What an engine raised for this request, and which model it was: a client error
    (not retried elsewhere), or a failure after the first chunk (too late to fail over)."""

    def __init__(self, model_id: str, error: EngineError) -> None:
        super().__init__(model_id, error)
        self.model_id, self.error = model_id, error
