"""CircuitBreaker on an injected clock: closed -> open -> half-open -> closed/open."""

from router.load.circuit_breaker import CircuitBreaker
from router.model_config import CircuitBreakerSettings
from tests.clock import FakeClock


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(CircuitBreakerSettings(failure_threshold=3, open_s=30), clock)


def test_opens_after_consecutive_failures_and_probes_after_the_hold() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(2):
        circuit.failed()
    assert circuit.state == "closed" and circuit.allow()
    circuit.failed()
    assert circuit.state == "open" and not circuit.allow()
    clock.now += 30
    assert circuit.state == "half_open"
    assert circuit.allow() and not circuit.allow()  # exactly one probe
    circuit.succeeded()
    assert circuit.state == "closed" and circuit.allow()


def test_a_failed_probe_opens_it_again() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failed()
    clock.now += 31
    assert circuit.allow()
    circuit.failed()
    assert circuit.state == "open"


def test_success_resets_the_count() -> None:
    circuit = breaker(FakeClock())
    for _ in range(2):
        circuit.failed()
    circuit.succeeded()
    for _ in range(2):
        circuit.failed()
    assert circuit.state == "closed"


def test_a_429_opens_at_once_for_its_retry_after() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    circuit.failed(retry_after_s=120)
    assert circuit.state == "open"
    clock.now += 60
    assert circuit.state == "open"  # longer than open_s: the provider's word counts
    clock.now += 60
    assert circuit.state == "half_open"


def test_an_abandoned_probe_is_released() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failed()
    clock.now += 30
    assert circuit.allow()  # the probe is claimed ...
    circuit.release()  # ... and its request ended without a verdict (client left)
    assert circuit.allow()


def test_a_success_admitted_before_the_circuit_opened_does_not_close_it() -> None:
    clock = FakeClock()
    circuit = breaker(clock)
    circuit.failed(retry_after_s=60)
    assert circuit.rate_limited
    circuit.succeeded()  # a stream that started before the 429
    assert circuit.state == "open"
    clock.now += 60
    assert circuit.allow()
    circuit.succeeded()  # the probe's success closes it
    assert circuit.state == "closed" and not circuit.rate_limited


def test_an_absurd_retry_after_is_held_at_most_max_open_s() -> None:
    clock = FakeClock()
    settings = CircuitBreakerSettings(failure_threshold=3, open_s=30, max_open_s=300)
    circuit = CircuitBreaker(settings, clock)
    circuit.failed(retry_after_s=1e12)
    clock.now += 299
    assert circuit.state == "open"
    clock.now += 1
    assert circuit.state == "half_open" and circuit.allow()
