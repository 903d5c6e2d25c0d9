"""The burst benchmark's oracle: its spend is the reference the overflow regret is
measured against, so it must schedule by local service time and price by the provider's."""

from bench.burst_oracle import LocalService, OracleRequest, oracle

# One slot, no slowdown: 0.1 s prefill, 0.1 s per token; a 0.25 s TTFT target.
ONE_SLOT = LocalService(1, 0.1, 0.1, 0.1, 0.1)
PRICE = 1e6  # one unit per token


def test_a_request_that_can_start_in_time_stays_local() -> None:
    requests = [OracleRequest(0.0, 5, 3), OracleRequest(1.0, 5, 3)]  # the slot frees at 0.6 s
    assert oracle(requests, 0.25, ONE_SLOT, PRICE) == (0, 0.0)


def test_the_slot_is_held_for_the_local_answer_and_the_provider_s_answer_is_paid() -> None:
    # The first holds the slot until 0.1 + 20 * 0.1 = 2.1 s, though the provider would
    # have answered it in 3 tokens: the second (at 1 s) cannot start in time.
    requests = [OracleRequest(0.0, 20, 3), OracleRequest(1.0, 5, 7)]
    assert oracle(requests, 0.25, ONE_SLOT, PRICE) == (1, 7.0)


def test_a_full_batch_slows_the_prefill() -> None:
    two_slots = LocalService(2, 0.1, 0.1, 0.3, 0.1)  # prefill 0.3 s beside one other
    requests = [OracleRequest(0.0, 50, 1), OracleRequest(0.5, 1, 4)]
    assert oracle(requests, 0.25, two_slots, PRICE) == (1, 4.0)
