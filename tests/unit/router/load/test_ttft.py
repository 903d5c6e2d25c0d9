"""The TTFT predictor: learned rates and the replayed batch."""

import pytest

from router.load.ttft import (
    PRIOR_DECODE_S_PER_TOKEN,
    Ewma,
    Prediction,
    RequestSize,
    TtftModel,
    WeightedLinear,
)
from serving.engine import EngineStats, GenerationChunk, Usage

SHORT = RequestSize(prompt_tokens=10, budget=20)
ROOMY = RequestSize(prompt_tokens=10, budget=100)


def batch(running: int, waiting: int = 0, slots: int | None = 2) -> list[EngineStats]:
    return [EngineStats(0.0, running, waiting, max_running=slots)]


def trained(prefill_s: float = 0.1, decode_s: float = 0.05, tokens: int = 20) -> TtftModel:
    """A model that has served 30 requests: prefill ``prefill_s``, then ``tokens`` tokens
    each at ``decode_s`` apart, stopping well within their budgets."""
    model = TtftModel()
    for i in range(30):
        start = 100.0 * i - 10_000  # long before the tests' clock starts
        record = model.started(start, ROOMY, Prediction(0.0, 0.0))
        model.first_token(record, start + prefill_s)
        record.saw(GenerationChunk(usage=Usage(10, tokens)))
        model.finished(record, start + prefill_s + (tokens - 1) * decode_s)
    return model


def test_the_first_samples_replace_the_prior_then_it_follows_slowly() -> None:
    mean = Ewma(prior=5.0)
    mean.observe(1.0)
    assert mean.value == 1.0
    mean.observe(3.0)
    assert mean.value == 2.0
    for _ in range(100):
        mean.observe(10.0)
    assert mean.value == pytest.approx(10.0, abs=0.01)


def mixed_samples() -> list[tuple[int, int]]:
    """(prompt tokens, requests beside): every prompt length with every batch, shuffled."""
    return [((10, 100, 1000, 50, 500)[i % 5], i % 6) for i in range(60)]


def test_prefill_is_learned_as_a_plane_in_prompt_tokens_and_batch_beside() -> None:
    plane = WeightedLinear(prior_intercept=1.0, resolution=(1.0, 0.1))
    assert plane((500, 3)) == 1.0  # the prior until several samples are seen
    for prompt, beside in mixed_samples():
        plane.observe((prompt, beside), 0.05 + 0.001 * prompt + 0.02 * beside)
    assert plane((0, 0)) == pytest.approx(0.05, rel=0.05)
    assert plane((2000, 0)) == pytest.approx(2.05, rel=0.05)
    assert plane((0, 7)) == pytest.approx(0.19, rel=0.05)


def test_a_slope_that_would_be_negative_is_left_out() -> None:
    """More prompt tokens never predict a shorter prefill, even from noisy samples."""
    plane = WeightedLinear(prior_intercept=1.0, resolution=(1.0, 0.1))
    for prompt, beside in mixed_samples():
        plane.observe((prompt, beside), 0.5 - 0.0001 * prompt + 0.02 * beside)
    assert plane((2000, 0)) >= plane((0, 0))
    assert plane((0, 7)) > plane((0, 0))  # the other slope is still fitted


def test_a_busy_batch_predicts_a_slower_prefill_once_learned() -> None:
    model = TtftModel()
    for i in range(30):  # requests that found a free slot beside 0 to 5 others, long ago
        beside = i % 6
        record = model.started(-100.0, SHORT, Prediction(0.0, 0.0, beside=beside))
        model.first_token(record, -100.0 + 0.1 + 0.05 * beside)
        model.finished(record, -50.0)
    quiet = model.predict(0.0, batch(running=0, slots=8), 0.0, SHORT)
    for _ in range(5):  # five of this router's requests in flight, just started
        model.started(0.0, SHORT, Prediction(0.0, 0.0))
    busy = model.predict(0.0, batch(running=5, slots=8), 0.0, SHORT)
    assert quiet.beside == 0 and busy.beside == 5 and busy.wait_s == 0.0
    assert quiet.ttft_s == pytest.approx(0.1, abs=0.01)
    assert busy.ttft_s == pytest.approx(0.35, abs=0.01)


def test_a_free_slot_means_prefill_only() -> None:
    model = trained(prefill_s=0.1)
    prediction = model.predict(0.0, batch(running=1), 0.0, SHORT)
    assert prediction.wait_s == 0.0 and prediction.ttft_s == pytest.approx(0.1, rel=0.01)


def test_a_full_batch_waits_for_the_first_request_to_end() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)  # a request: 0.1 + 20 x 0.05
    first = model.started(0.0, SHORT, Prediction(0.0, 0.1))
    model.first_token(first, 0.1)
    second = model.started(0.5, SHORT, Prediction(0.0, 0.1))
    model.first_token(second, 0.6)
    # At t=0.6 both slots are busy: the first ends at 0.1 + 1.0, the second at 1.6.
    prediction = model.predict(0.6, batch(running=2), 0.6, SHORT)
    assert prediction.wait_s == pytest.approx(0.5, abs=0.01)
    assert prediction.ttft_s == pytest.approx(0.6, abs=0.01)


def test_requests_queued_before_take_the_free_slots_first() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)  # each takes 1.1 s
    for _ in range(4):  # 2 running (just started), 2 waiting
        model.started(0.0, SHORT, Prediction(0.0, 0.0))
    prediction = model.predict(0.0, batch(running=2, waiting=2), 0.0, SHORT)
    # Both slots free at 1.1, the waiting two take them until 2.2: this one starts then.
    assert prediction.wait_s == pytest.approx(2.2, abs=0.01)


def test_a_small_budget_ends_sooner() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)
    for _ in range(2):
        model.started(0.0, RequestSize(prompt_tokens=10, budget=2), Prediction(0.0, 0.0))
    assert model.predict(0.0, batch(running=2), 0.0, SHORT).wait_s == pytest.approx(0.2, abs=0.01)


def test_other_routers_requests_count_from_the_engines_numbers() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)
    # None of the engine's two running requests is this router's: half done each.
    prediction = model.predict(0.0, batch(running=2), 0.0, SHORT)
    # A typical request takes 0.1 + 20 x 0.05 = 1.1 s.
    assert prediction.wait_s == pytest.approx(0.55, abs=0.01)


def test_an_unknown_batch_size_never_predicts_a_wait() -> None:
    model = trained()
    assert model.predict(0.0, batch(running=50, slots=None), 0.0, SHORT).wait_s == 0.0


def test_only_requests_that_found_a_free_slot_teach_the_prefill() -> None:
    model = TtftModel()
    waited = model.started(0.0, SHORT, Prediction(wait_s=3.0, ttft_s=3.2))
    error = model.first_token(waited, 3.0)
    assert model.prefill_s.samples == 0  # its TTFT was mostly the wait
    assert error == pytest.approx(0.2 / 3.0)


def test_decode_rate_and_answer_length_come_from_finished_requests() -> None:
    model = TtftModel()
    record = model.started(0.0, SHORT, Prediction(0.0, 0.0))
    model.first_token(record, 0.2)
    model.finished(record, 5.0)  # no usage seen (the stream broke): nothing learned
    assert model.decode() == PRIOR_DECODE_S_PER_TOKEN
    record = model.started(0.0, SHORT, Prediction(0.0, 0.0))
    model.first_token(record, 0.2)
    record.saw(GenerationChunk(usage=Usage(10, 11)))
    model.finished(record, 1.2)
    assert model.decode() == pytest.approx(0.1)
    assert model.output_tokens.value == 11 and not model.in_flight


def test_answers_cut_by_their_budget_do_not_teach_the_natural_length() -> None:
    model = trained(tokens=20)
    for _ in range(10):
        record = model.started(0.0, SHORT, Prediction(0.0, 0.0))
        model.first_token(record, 0.1)
        record.saw(GenerationChunk(usage=Usage(10, 20)))  # all of its budget of 20
        model.finished(record, 1.0)
    assert model.output_tokens.value == pytest.approx(20)  # from the 30 that stopped
    # A budget of 64 is expected to stop at 20, as those did; 8 at its budget.
    assert model._decode_s(64) == pytest.approx(20 * model.decode())
    assert model._decode_s(8) == pytest.approx(8 * model.decode())


def test_a_request_past_its_natural_length_is_expected_to_run_to_its_budget() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)  # stops at 20 tokens
    long = model.started(0.0, RequestSize(prompt_tokens=10, budget=100), Prediction(0.0, 0.0))
    model.first_token(long, 0.1)
    other = model.started(0.0, ROOMY, Prediction(0.0, 0.0))
    model.first_token(other, 0.1)
    # At 2.0 both are past 20 tokens (0.1 + 1.0): they run to 100 tokens, 5.1 s.
    prediction = model.predict(2.0, batch(running=2), 2.0, SHORT)
    assert prediction.wait_s == pytest.approx(3.1, abs=0.05)


def test_an_engine_count_that_lags_a_finished_request_is_no_other_routers() -> None:
    model = trained(prefill_s=0.1, decode_s=0.05, tokens=20)
    done = model.started(10.0, SHORT, Prediction(0.0, 0.0))
    model.first_token(done, 10.1)
    busy = model.started(10.0, SHORT, Prediction(0.0, 0.0))
    model.first_token(busy, 10.1)
    model.finished(done, 10.5)
    # Polled at 10.4, before it finished: the engine still counts both; one slot is free.
    assert model.predict(10.6, batch(running=2), 10.4, SHORT).wait_s == 0.0
    # Polled at 10.6 an engine that still held two would hold another router's request.
    assert model.predict(10.6, batch(running=2), 10.6, SHORT).wait_s > 0.0


def test_two_alike_requests_are_two() -> None:
    model = TtftModel()
    first, second = (model.started(0.0, SHORT, None) for _ in range(2))
    model.finished(second, 1.0)
    assert model.in_flight == [first] and model.in_flight[0] is first


def test_decode_is_learned_by_the_batch_beside_and_a_full_batch_frees_later() -> None:
    model = TtftModel()
    for i in range(30):  # alone 0.05 s per token, beside 7 others 0.12 s
        beside = 7 * (i % 2)
        record = model.started(-100.0, ROOMY, Prediction(0.0, 0.0, beside=beside))
        model.first_token(record, -99.9)
        record.saw(GenerationChunk(usage=Usage(10, 21)))
        model.finished(record, -99.9 + 20 * (0.05 + 0.01 * beside))
    assert model.decode(0) == pytest.approx(0.05, rel=0.01)
    assert model.decode(7) == pytest.approx(0.12, rel=0.01)
    for _ in range(2):  # two running, just past their first token, 21 tokens to go
        model.first_token(model.started(0.0, SHORT, Prediction(0.0, 0.0)), 0.0)
    # A batch of 2: each decodes beside 1 other (0.06 s per token): 20 x 0.06 = 1.2 s.
    assert model.predict(0.0, batch(running=2), 0.0, SHORT).wait_s == pytest.approx(1.2, abs=0.02)


def test_a_slope_from_a_feature_that_barely_varies_is_not_extrapolated() -> None:
    """One early sample beside an empty batch, then a steady full batch: the fit must not
    read the decayed old sample as a slope and predict an empty batch from it."""
    plane = WeightedLinear(prior_intercept=1.0, resolution=(8.0, 0.5))
    plane.observe((64, 0), 5.0)  # a cold first request
    for i in range(60):
        plane.observe((64 + i % 3, 3), 0.3 + 0.01 * (i % 2))
    assert plane((64, 0)) == pytest.approx(0.3, abs=0.02)


def test_the_tail_is_the_expected_ttft_times_the_margin_its_targets_taught() -> None:
    model = TtftModel()
    quiet = model.predict(0.0, batch(running=0), 0.0, SHORT)
    assert quiet.likely_max_s == quiet.ttft_s  # nothing measured against a target yet
    for i in range(10):  # sent under a 0.2 s target, each took 0.3 s: ten misses
        record = model.started(float(i), SHORT, Prediction(wait_s=1.0, ttft_s=0.1), 0.2)
        model.first_token(record, i + 0.3)
        model.finished(record, i + 0.5)
    later = model.predict(200.0, batch(running=0), 200.0, SHORT)
    assert later.ttft_s == quiet.ttft_s  # waited requests teach no prefill: the mean holds
    assert later.likely_max_s == pytest.approx(later.ttft_s * model.margin.value)
    assert model.margin.value > 2


def test_requests_without_a_target_teach_no_margin() -> None:
    model = TtftModel()
    for i in range(10):
        record = model.started(float(i), SHORT, Prediction(wait_s=1.0, ttft_s=0.1))
        model.first_token(record, i + 0.3)
        model.finished(record, i + 0.5)
    assert model.margin.value == 1.0
