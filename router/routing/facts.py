"""Everything the routing stages ask about a request, computed once into a frozen value."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from router.auth import ANONYMOUS, Caller
from router.classifier.text import message_text, routing_text
from router.openai_types import SamplingFields
from router.policy_config import Knob, PolicySettings
from router.routing.refusal import Refusal, RoutingRefused
from router.routing.tokens import TokenCount
from serving.engine import ChatPrompt, GenerationRequest


@dataclass(frozen=True)
class RuleOutcome:
    """What the matching rules (``router.routing.rules``) decided for a request."""

    matched: tuple[str, ...] = ()
    pin: str | None = None
    restrict_to: frozenset[str] | None = None
    forbid_external: bool = False
    knob: Knob | None = None
    knob_rule: str | None = None


NO_RULES = RuleOutcome()

_TRUE = frozenset({"1", "true", "yes"})  # what the local-only header accepts as true


@dataclass(frozen=True)
class RequestFacts:
    requested_model: str
    generation: GenerationRequest
    caller: Caller = ANONYMOUS
    alias_knob: Knob | None = None  # the knob an alias carries (`auto-economy`)
    is_routed: bool = False  # the client asked an alias: the router chooses
    knob_header: float | None = None  # the share the knob header asks for, validated
    local_only_header: bool = False  # the local-only header says true
    # Raw, lower-cased names: only for the rules' ``header: {name, equals}`` conditions,
    # which may name any header. The router's own headers are the typed fields above.
    headers: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    has_images: bool = False
    # Filled in by the pipeline before the filters run:
    prompt_tokens: Mapping[str, TokenCount] = field(default_factory=dict)  # by target id
    rules: RuleOutcome = NO_RULES

    @property
    def max_tokens(self) -> int | None:
        return self.generation.sampling.max_tokens

    @property
    def wants_tools(self) -> bool:
        tool_use = self.generation.tool_use
        return tool_use is not None and tool_use.choice != "none"

    @property
    def wants_json(self) -> bool:
        return self.generation.json_output is not None

    @classmethod
    def of_request(
        cls,
        body: SamplingFields,
        generation: GenerationRequest,
        *,
        caller: Caller,
        headers: Mapping[str, str],
        aliases: Mapping[str, Knob | None],
        policy: PolicySettings,
    ) -> "RequestFacts":
        """The facts of an OpenAI request body and its translation (``headers`` with
        lower-cased names, repeated ones comma-joined). The router's own headers are read
        here, once: a knob header it cannot read is refused (``RoutingRefused``) before
        any routing work."""
        return cls(
            requested_model=body.model,
            generation=generation,
            caller=caller,
            alias_knob=aliases.get(body.model),
            is_routed=body.model in aliases,
            knob_header=_knob_header(headers, policy),
            local_only_header=_local_only_header(headers, policy),
            headers=headers,
            metadata=body.metadata or {},
            has_images=body.has_images(),
        )

    def last_user_message(self) -> str:
        prompt = self.generation.prompt
        if not isinstance(prompt, ChatPrompt):
            return prompt.text
        users = [m for m in prompt.messages if m.get("role") == "user"]
        return message_text(users[-1]) if users else ""

    def routing_text(self) -> str:
        """What the classifier reads (and a decision log shows when prompts are on)."""
        prompt = self.generation.prompt
        return routing_text(prompt.messages) if isinstance(prompt, ChatPrompt) else prompt.text


def _knob_header(headers: Mapping[str, str], policy: PolicySettings) -> float | None:
    """The share the knob header asks for: a preset's, or a number in [0, 1]."""
    value = headers.get(policy.knob_header.lower())
    if value is None:
        return None
    value = value.strip()
    if value in policy.presets:
        return policy.presets[value]
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:  # nan too
        presets = ", ".join(sorted(policy.presets))
        message = (
            f"Header {policy.knob_header} must be a preset ({presets}) or a number between "
            f"0 and 1; got {value!r}."
        )
        raise RoutingRefused(Refusal("knob_header", "invalid", message, param=policy.knob_header))
    return share


def _local_only_header(headers: Mapping[str, str], policy: PolicySettings) -> bool:
    """Sent more than once (comma-joined), any true copy wins: locality fails closed."""
    copies = headers.get(policy.local_only_header.lower(), "").split(",")
    return any(value.strip().lower() in _TRUE for value in copies)
