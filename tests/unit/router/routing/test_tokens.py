"""Exact prompt token counts with each model's own tokenizer and chat template."""

from pathlib import Path

from transformers import AutoTokenizer

from harness.configs import default_fleet_raw
from router.config_loader import parse_config
from router.routing.tokens import PromptTokenCounter
from serving.errors import InvalidPrompt
from serving.prompts import encode_prompt
from serving.weights import default_models_dir
from tests.unit.router.routing.conftest import QWEN, SMOL, facts

TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}}  # fmt: skip


def counter_for(external_counts_with: str | None) -> PromptTokenCounter:
    raw = default_fleet_raw()
    raw["external_providers"][0]["count_tokens_with"] = external_counts_with
    return PromptTokenCounter.from_config(parse_config(raw), default_models_dir())


def test_counts_match_what_the_engine_encodes(smol_model_dir: Path) -> None:
    request = facts().generation
    counts = counter_for(None).count([SMOL, QWEN, "external"], request)
    tokenizer = AutoTokenizer.from_pretrained(smol_model_dir)
    assert counts[SMOL] == len(encode_prompt(tokenizer, request.prompt))
    assert isinstance(counts[QWEN], int) and counts[QWEN] != counts[SMOL]  # its own template
    assert "external" not in counts  # no tokenizer named: the provider checks


def test_tools_are_counted_through_the_template() -> None:
    counter = counter_for(QWEN)
    plain = counter.count([QWEN], facts().generation)[QWEN]
    with_tools = counter.count([QWEN], facts(tools=[TOOL]).generation)[QWEN]
    assert isinstance(plain, int) and isinstance(with_tools, int) and with_tools > plain + 10
    assert counter.count(["external"], facts().generation)["external"] == plain


def test_a_template_refusal_is_kept_as_the_count(smol_model_dir: Path) -> None:
    strict = AutoTokenizer.from_pretrained(smol_model_dir)
    strict.chat_template = "{{ raise_exception('Conversation roles must alternate') }}"
    counts = PromptTokenCounter({SMOL: strict}).count([SMOL], facts().generation)
    assert isinstance(counts[SMOL], InvalidPrompt)
    assert "roles must alternate" in str(counts[SMOL])


def test_the_floor_never_exceeds_the_exact_count() -> None:
    counter = counter_for(QWEN)
    for text in ("hi", "word " * 500, " " * 4000, "=" * 3000, "\u4e2d\u6587" * 800, "x" * 9000):
        request = facts(messages=[{"role": "user", "content": text}]).generation
        counts = counter.count([SMOL, QWEN], request)
        floor = counter.floor(request, [SMOL, QWEN, "external"])
        assert all(isinstance(c, int) and floor <= c for c in counts.values()), text[:20]
    assert counter.floor(facts(messages=[{"role": "user", "content": "y" * 9000}]).generation) > 0


def test_no_floor_for_a_target_without_a_tokenizer_or_without_any() -> None:
    request = facts(messages=[{"role": "user", "content": "y" * 9000}]).generation
    assert counter_for(None).floor(request, [SMOL, "external"]) == 0  # the provider's vocabulary
    assert PromptTokenCounter({}).floor(request) == 0
