"""What the fake provider does: its model name, key, latencies and injected faults (set
at start, and the runtime faults changed by ``POST /faults``)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FakeConfig:
    api_key: str | None = None
    model: str = "fake-model"
    ttft_ms: float = 0.0
    token_latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    hang_rate: float = 0.0
    stream_error_rate: float = 0.0  # streams that send an error event after the first word
    max_concurrency: int = 0  # 0: unlimited
    no_usage: bool = False  # ignore stream_options.include_usage, as some providers do
    hostile: str | None = None  # answer every completion as ``hostile.MODES`` says
    seed: int = 0
