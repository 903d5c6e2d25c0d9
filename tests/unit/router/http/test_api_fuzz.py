"""Fuzzing the HTTP API on a live in-process server with the real small model (the
strategies and checks: ``tests/fuzz.py``). The model's output cap is tiny so valid
requests stay cheap."""

from pathlib import Path

import pytest

from tests.builders import load_smol_engine
from tests.fuzz import MUTATIONS, fuzz
from tests.live_api import context, serve_api

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 1000  # two POST operations: 2,000 generated bodies


def test_no_server_errors(smol_model_dir: Path) -> None:
    engine = load_smol_engine(smol_model_dir, max_output_tokens=2)
    try:
        with serve_api(context({"smollm2-135m": engine}, max_body_bytes=1 << 20)) as url:
            seen = fuzz(url, EXAMPLES_PER_OPERATION)
    finally:
        engine.close()
    statuses = {k: v for k, v in seen.items() if not k.startswith("mutation:")}
    assert sum(statuses.values()) >= 2000, seen
    assert seen["200"] > 50, seen  # valid bodies really reached the model
    assert all(seen[f"mutation:{m}"] > 100 for m in MUTATIONS), seen
