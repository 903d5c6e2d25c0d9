"""Each capability filter on real targets of the default fleet and real request facts."""

from dataclasses import replace

from router.auth import Caller
from router.policy_config import KeyPolicy
from router.routing.facts import RuleOutcome
from router.routing.filters.context_window import ContextWindowFilter
from router.routing.filters.data_locality import DataLocalityFilter
from router.routing.filters.key_policy import KeyPolicyFilter
from router.routing.filters.request_fields import RequestFieldsFilter
from router.routing.filters.response_format import ResponseFormatFilter
from router.routing.filters.rule_restriction import RuleRestrictionFilter
from router.routing.filters.tool_support import ToolSupportFilter
from router.routing.filters.vision import VisionFilter
from serving.engines import ENGINES
from serving.errors import InvalidPrompt
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL, facts, target

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
IMAGE = [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
]


def test_context_window_names_the_numbers() -> None:
    request = replace(facts(max_tokens=100), prompt_tokens={SMOL: 8150, QWEN: 8150})
    refusal = ContextWindowFilter().exclude(request, target(SMOL))
    assert refusal is not None and refusal.reason == "context_window"
    assert (refusal.kind, refusal.param) == ("too_long", "messages")
    assert "8192" in refusal.message and "8250" in refusal.message
    assert ContextWindowFilter().exclude(request, target(QWEN)) is None  # 32768 fits


def test_context_window_caps_max_tokens_at_the_models_output_limit() -> None:
    request = replace(facts(max_tokens=3000), prompt_tokens={SMOL: 10})  # SmolLM2: 2048
    refusal = ContextWindowFilter().exclude(request, target(SMOL))
    assert refusal is not None and (refusal.kind, refusal.param) == ("invalid", "max_tokens")
    assert "2048" in refusal.message


def test_context_window_needs_room_for_one_token_without_max_tokens() -> None:
    full = replace(facts(), prompt_tokens={SMOL: 8192})
    assert ContextWindowFilter().exclude(full, target(SMOL)) is not None
    assert (
        ContextWindowFilter().exclude(replace(full, prompt_tokens={SMOL: 8191}), target(SMOL))
        is None
    )


def test_context_window_refuses_a_prompt_the_template_refused() -> None:
    request = replace(facts(), prompt_tokens={SMOL: InvalidPrompt("roles must alternate")})
    refusal = ContextWindowFilter().exclude(request, target(SMOL))
    assert refusal is not None and refusal.kind == "invalid"
    assert refusal.message == f"Model {SMOL!r}: roles must alternate"


def test_context_window_leaves_an_uncounted_provider_to_the_provider() -> None:
    assert ContextWindowFilter().exclude(facts(), target(EXTERNAL)) is None


def test_tools_need_tool_support() -> None:
    with_tools = facts(tools=[TOOL])
    refusal = ToolSupportFilter().exclude(with_tools, target(SMOL))
    assert refusal is not None and (refusal.reason, refusal.kind, refusal.param) == (
        "tools", "invalid", "tools")  # fmt: skip
    assert ToolSupportFilter().exclude(with_tools, target(EXTERNAL)) is None
    # tool_choice "none": the model will not call tools, any model may answer.
    assert (
        ToolSupportFilter().exclude(facts(tools=[TOOL], tool_choice="none"), target(SMOL)) is None
    )


def test_images_need_vision() -> None:
    with_image = facts(messages=[{"role": "user", "content": IMAGE}])
    assert with_image.has_images
    refusal = VisionFilter().exclude(with_image, target(QWEN))
    assert refusal is not None and (refusal.reason, refusal.kind) == ("vision", "invalid")
    assert refusal.message == f"Model {QWEN!r} does not accept image input."
    assert VisionFilter().exclude(with_image, target(EXTERNAL)) is None
    assert VisionFilter().exclude(facts(), target(QWEN)) is None


def test_json_output_needs_a_guarantee() -> None:
    wants_json = facts(response_format={"type": "json_object"})
    no_guarantee = replace(target(EXTERNAL), json_output=False)  # a provider without it
    refusal = ResponseFormatFilter().exclude(wants_json, no_guarantee)
    assert refusal is not None and (refusal.kind, refusal.param) == ("invalid", "response_format")
    assert ResponseFormatFilter().exclude(wants_json, target(EXTERNAL)) is None
    assert ResponseFormatFilter().exclude(wants_json, target(SMOL)) is None  # grammar-bound


def test_local_only_requests_never_reach_a_provider() -> None:
    locality = DataLocalityFilter()
    by_header = facts(headers={"x-switchboard-local-only": "true"})
    by_key = facts(caller=Caller("batch", KeyPolicy(allow_external=False)))
    by_rule = replace(facts(), rules=RuleOutcome(matched=("r",), forbid_external=True))
    for request in (by_header, by_key, by_rule):
        refusal = locality.exclude(request, target(EXTERNAL))
        assert refusal is not None and (refusal.reason, refusal.kind) == ("local_only", "forbidden")
        assert locality.exclude(request, target(SMOL)) is None
    assert locality.exclude(facts(), target(EXTERNAL)) is None


def test_key_policy_limits_models() -> None:
    caller = Caller("team", KeyPolicy(allowed_models=[SMOL]))
    refusal = KeyPolicyFilter().exclude(facts(caller=caller), target(QWEN))
    assert refusal is not None and (refusal.reason, refusal.kind) == ("key_policy", "forbidden")
    assert refusal.message == f"Your API key may not use model {QWEN!r}."
    assert KeyPolicyFilter().exclude(facts(caller=caller), target(SMOL)) is None


def test_rule_restriction_names_the_rule() -> None:
    outcome = RuleOutcome(matched=("code-only",), restrict_to=frozenset({QWEN}))
    refusal = RuleRestrictionFilter().exclude(replace(facts(), rules=outcome), target(SMOL))
    assert refusal is not None and (refusal.reason, refusal.kind) == ("rule", "forbidden")
    assert "code-only" in refusal.message
    assert RuleRestrictionFilter().exclude(replace(facts(), rules=outcome), target(QWEN)) is None


def test_a_local_model_honours_the_adjustments_its_engine_lists() -> None:
    penalised = facts(frequency_penalty=0.5, top_k=40)
    assert RequestFieldsFilter().exclude(penalised, target(SMOL)) is None  # vLLM
    on_transformers = replace(target(SMOL), adjustments=ENGINES["transformers"].adjustments)
    refusal = RequestFieldsFilter().exclude(penalised, on_transformers)
    assert refusal is not None and (refusal.reason, refusal.kind, refusal.param) == (
        "request_fields", "invalid", "frequency_penalty")  # fmt: skip
    # Neutral values ask for nothing: any engine answers them.
    neutral = facts(frequency_penalty=0, presence_penalty=0.0, top_k=-1, repetition_penalty=1)
    assert RequestFieldsFilter().exclude(neutral, on_transformers) is None


def test_unmodelled_fields_rule_local_models_out_but_not_a_provider() -> None:
    reasoning = facts(reasoning_effort="high", logit_bias={"50256": -100})
    refusal = RequestFieldsFilter().exclude(reasoning, target(SMOL))
    assert refusal is not None and refusal.param == "logit_bias"  # the first, by name
    assert refusal.message == f"Model {SMOL!r} does not support `logit_bias`."
    assert RequestFieldsFilter().exclude(reasoning, target(EXTERNAL)) is None


def test_fields_that_change_no_local_answer_are_no_reason_to_exclude() -> None:
    hosted = facts(store=False, service_tier="auto", logit_bias={}, modalities=["text"], audio=None)
    assert RequestFieldsFilter().exclude(hosted, target(QWEN)) is None
    assert RequestFieldsFilter().exclude(facts(modalities=["text", "audio"]), target(QWEN))
