"""The vLLM engine's load gauge, fed with vLLM's own stats objects."""

import pytest

from serving.vllm_setup import LoadGauge

pytestmark = pytest.mark.vllm


def test_preemptions_are_counted_from_vllms_iteration_stats() -> None:
    """vLLM's own stats objects, as its output handler passes them after each step:
    preemptions add up across steps (a step may carry no scheduler stats)."""
    from vllm.v1.metrics.stats import IterationStats, SchedulerStats  # vLLM is optional

    gauge = LoadGauge()
    step = IterationStats()
    step.num_preempted_reqs = 2
    gauge.record(SchedulerStats(num_running_reqs=3, kv_cache_usage=0.97), step)
    gauge.record(None, step)
    gauge.record(SchedulerStats(), IterationStats())
    assert gauge.preemptions == 4
    assert gauge.snapshot is not None and gauge.snapshot.preemptions == 4
