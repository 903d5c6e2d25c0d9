"""CircuitBreaker: keeps a failing external provider out for a while.

closed -> open after ``failure_threshold`` consecutive failures (errors, timeouts, 5xx)
or at once on a 429, for ``open_s`` or the provider's ``Retry-After`` if longer (at
most ``max_open_s``);
open -> half-open when that time is up: one probe request is let through; its success
closes the circuit, its failure opens it again. The clock is injected, so the tests
drive time instead of sleeping.
"""

from collections.abc import Callable
from typing import Literal

from router.model_config import CircuitBreakerSettings

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, settings: CircuitBreakerSettings, clock: Callable[[], float]) -> None:
        self._settings, self._clock = settings, clock
        self._failures = 0
        self._open_until: float | None = None
        self._probing = False
        self.rate_limited = False  # opened by the provider's 429: busy, not broken

    @property
    def state(self) -> CircuitState:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half_open"

    def allow(self) -> bool:
        """Whether a request may go to the provider now (claims the half-open probe)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self._open_until is not None and not self._probing:
            return  # admitted before the circuit opened: only the probe may close it
        self._failures, self._open_until, self._probing = 0, None, False
        self.rate_limited = False

    def release(self) -> None:
        """The request ended without a verdict (cancelled, or refused on our side): a
        claimed probe becomes available again."""
        self._probing = False

    def failed(self, retry_after_s: float | None = None) -> None:
        """A failure; ``retry_after_s`` (a 429's ``Retry-After``) opens the circuit at once."""
        self._failures += 1
        if (
            retry_after_s is not None
            or self._probing
            or (self._failures >= self._settings.failure_threshold)
        ):
            # The provider's Retry-After is a hint: capped, so an absurd one cannot keep it
            # out for good.
            hold = min(max(self._settings.open_s, retry_after_s or 0.0), self._settings.max_open_s)
            self._open_until, self._probing = self._clock() + hold, False
            self.rate_limited = retry_after_s is not None
