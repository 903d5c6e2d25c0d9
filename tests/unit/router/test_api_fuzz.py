"""Property-based fuzzing of the HTTP API from its own OpenAPI document: over a thousand
generated bodies against a live server with the real small model; none may get a 5xx.

Half of the generated bodies get a real model name, so valid ones reach the engine
instead of stopping at the 404 for a random model name. The model's output cap is tiny
so valid requests stay cheap. (schemathesis' strategies are driven by hypothesis
directly: its lazy pytest loader does not work with pytest 9.)
"""

import itertools
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from tests.builders import load_smol_engine
from tests.live_api import context, serve_api

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 550  # two POST operations: > 1,000 generated bodies


def test_no_server_errors(smol_model_dir: Path) -> None:
    engine = load_smol_engine(smol_model_dir, max_output_tokens=2)
    try:
        with serve_api(context({"smollm2-135m": engine}, max_body_bytes=65536)) as url:
            statuses = fuzz(url)
    finally:
        engine.close()
    assert sum(statuses.values()) >= 1000, statuses
    assert statuses[200] > 50, statuses  # valid bodies really reached the model


def fuzz(url: str) -> Counter[int]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: Counter[int] = Counter()
    flip = itertools.count()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "POST":
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case) -> None:
            if isinstance(case.body, dict) and "model" in case.body and next(flip) % 2:
                case.body["model"] = "auto"
            response = case.call(base_url=url, timeout=60)
            statuses[response.status_code] += 1
            assert response.status_code < 500, (case.body, response.text)
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}

        check()
    return statuses
