"""Capability filters, one module each. ``default_filters`` fixes their order, which is
also the precedence of the refusal a client gets when every model is excluded: the
refusal of the model that passed the most filters (see ``pipeline``)."""

from router.routing.filters.context_window import ContextWindowFilter
from router.routing.filters.data_locality import DataLocalityFilter
from router.routing.filters.key_policy import KeyPolicyFilter
from router.routing.filters.request_fields import RequestFieldsFilter
from router.routing.filters.response_format import ResponseFormatFilter
from router.routing.filters.rule_restriction import RuleRestrictionFilter
from router.routing.filters.tool_support import ToolSupportFilter
from router.routing.filters.vision import VisionFilter
from router.routing.stages import TargetFilter


def default_filters() -> tuple[TargetFilter, ...]:
    return (
        KeyPolicyFilter(),
        RuleRestrictionFilter(),
        DataLocalityFilter(),
        VisionFilter(),
        ToolSupportFilter(),
        ResponseFormatFilter(),
        RequestFieldsFilter(),
        ContextWindowFilter(),
    )
