"""Routing decision latency: exact token counts + filters + quality predictor + policy,
no generation.

Builds the router's own pipeline from models.yaml (every local model's tokenizer and
chat template, the shipped predictor or ``--artifact``) and times ``decide`` for `auto`
requests whose user message is 50, 500 and 2,000 tokens long (SmolLM2's count), plus a
pinned model (no predictor). Prints machine info; writes
bench/results/decision_latency_<date>[_<encoder>].*.

    python -m bench.decision_latency --repeats 300 --threads 1
"""

import argparse
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from bench.load import machine, percentile
from router.auth import ANONYMOUS
from router.classifier.artifact import SHIPPED_ARTIFACT
from router.config_loader import load_config
from router.http.translate import chat_request
from router.openai_types import ChatCompletionRequest
from router.policy_config import PolicySettings
from router.routing.build import build_pipeline, load_predictor
from router.routing.facts import RequestFacts
from router.routing.pipeline import RoutingPipeline
from router.routing.tokens import PromptTokenCounter
from serving.weights import default_models_dir

RESULTS = Path(__file__).parent / "results"
SMOL = "smollm2-135m"
SIZES = (50, 500, 2000)
# Varied prose, so the tokenizer and the embedder see ordinary text, not one repeated id.
SEED_TEXT = (
    "Our quarterly report shows revenue grew while support costs fell. Summarise the "
    "main drivers, list three risks for next quarter, and suggest which team should own "
    "each one. Keep the answer short and cite the figures you rely on. "
)


@dataclass
class Timing:
    case: str
    prompt_tokens: int
    model: str
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def facts_for(model: str, text: str) -> RequestFacts:
    message = {"role": "user", "content": text}
    body = ChatCompletionRequest.model_validate(
        {"model": model, "max_tokens": 64, "messages": [message]}
    )
    generation = chat_request(body, "bench")
    return RequestFacts.of_request(
        body,
        generation,
        caller=ANONYMOUS,
        headers={},
        aliases={"auto": None},
        policy=PolicySettings(),
    )


def tokens_of(counter: PromptTokenCounter, text: str) -> int:
    count = counter.count([SMOL], facts_for(SMOL, text).generation)[SMOL]
    assert isinstance(count, int)
    return count


def prompt_of(counter: PromptTokenCounter, tokens: int) -> str:
    """The longest prefix of the seed prose whose prompt is at most ``tokens`` tokens."""
    words = (SEED_TEXT * (tokens // 8 + 10)).split()
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if tokens_of(counter, " ".join(words[:middle])) <= tokens:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def time_case(pipeline: RoutingPipeline, case: str, facts: RequestFacts, repeats: int) -> Timing:
    for _ in range(5):  # warm-up: first calls pay lazy initialisation
        pipeline.decide(facts)
    spent = []
    for _ in range(repeats):
        started = time.perf_counter()
        decision = pipeline.decide(facts)
        spent.append((time.perf_counter() - started) * 1000)
    return Timing(
        case=case,
        prompt_tokens=0,
        model=decision.model_id,
        p50_ms=percentile(spent, 0.50),
        p95_ms=percentile(spent, 0.95),
        p99_ms=percentile(spent, 0.99),
        max_ms=max(spent),
    )


def markdown(info: dict[str, str], timings: list[Timing], command: str) -> str:
    lines = [
        "# Routing decision latency",
        "",
        f"Command: `{command}`  ",
        f"Machine: {json.dumps(info)}",
        "",
        "| case | prompt tokens | chosen | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.case} | {t.prompt_tokens} | {t.model} | {t.p50_ms:.2f} | {t.p95_ms:.2f} "
            f"| {t.p99_ms:.2f} | {t.max_ms:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("models.yaml"))
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (Ray sets 1)")
    parser.add_argument("--artifact", type=Path, default=SHIPPED_ARTIFACT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = load_predictor(args.artifact)
    encoder = predictor.artifact.encoder
    info = {**machine(), "torch_threads": str(args.threads), "encoder": encoder}
    print(json.dumps(info))
    config = load_config(args.config)
    models_dir = default_models_dir()
    counter = PromptTokenCounter.from_config(config, models_dir)
    enabled = {m.id for m in config.models}
    pipeline = build_pipeline(config, models_dir, enabled, predictor)
    cases = [(f"auto, {n} tokens", "auto", n) for n in SIZES] + [("pinned, 500 tokens", SMOL, 500)]
    timings = []
    for case, model, size in cases:
        text = prompt_of(counter, size)
        timing = time_case(pipeline, case, facts_for(model, text), args.repeats)
        timing.prompt_tokens = tokens_of(counter, text)
        print(timing)
        timings.append(timing)
    command = f"python -m bench.decision_latency --repeats {args.repeats} --threads {args.threads}"
    if args.artifact != SHIPPED_ARTIFACT:
        command += f" --artifact {args.artifact}"
    report = markdown(info, timings, command)
    print(report)
    shipped = args.artifact == SHIPPED_ARTIFACT
    suffix = "" if shipped else f"_{encoder}"
    stem = RESULTS / f"decision_latency_{datetime.now(UTC):%Y%m%d}{suffix}"
    stem.with_suffix(".md").write_text(report)
    payload = {"machine": info, "command": command, "timings": [asdict(t) for t in timings]}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
