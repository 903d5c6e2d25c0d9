"""The clairvoyant oracle of ``bench.burst``: knowing every arrival and answer length in
advance, it serves locally whatever can start within the TTFT target on the batch, in
arrival order, and overflows the rest. Its service times are the engine's, measured alone
and with the batch full (the capacity run), linear in between in the requests beside.
Greedy, so its spend bounds the least possible from above (it meets the target by
construction, in its own model of the engine)."""

import heapq
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalService:
    """The oracle's service times: measured alone and with the batch kept full, and in
    between linear in the requests beside (a busy batch slows each engine step)."""

    batch: int
    prefill_s: float  # TTFT alone
    decode_s_per_token: float
    full_prefill_s: float  # TTFT beside batch - 1 others
    full_decode_s_per_token: float

    def prefill(self, beside: int) -> float:
        return self._between(self.prefill_s, self.full_prefill_s, beside)

    def per_token(self, beside: int) -> float:
        return self._between(self.decode_s_per_token, self.full_decode_s_per_token, beside)

    def _between(self, alone: float, full: float, beside: int) -> float:
        return alone + (full - alone) * beside / max(self.batch - 1, 1)


@dataclass(frozen=True, order=True)
class OracleRequest:
    arrival_s: float
    local_tokens: int  # its answer's length on the local model (how long it holds a slot)
    provider_tokens: int  # and from the provider (what overflowing it costs)


def oracle(
    requests: list[OracleRequest], target_s: float, local: LocalService, price: float
) -> tuple[int, float]:
    """(requests overflowed, their spend) of the clairvoyant greedy schedule of
    ``requests``: each batch slot is a lane; a request takes the lane that frees first, at
    the speed of the lanes busy beside it when it starts."""
    free_at = [0.0] * local.batch
    overflowed, spend = 0, 0.0
    for request in sorted(requests):
        start = max(request.arrival_s, free_at[0])
        beside = sum(f > start for f in free_at[1:])
        prefill = local.prefill(beside)
        if start - request.arrival_s + prefill <= target_s:
            end = start + prefill + request.local_tokens * local.per_token(beside)
            heapq.heapreplace(free_at, end)
        else:
            overflowed += 1
            spend += request.provider_tokens * price / 1e6
    return overflowed, spend
