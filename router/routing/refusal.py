"""Why routing will not serve a request, in routing's own terms: which stage refused,
what the client should read, and which kind of client error it is.
``router.error_mapping.refusal_error`` words it for the client, once, at the edge;
routing itself knows nothing of HTTP."""

from dataclasses import dataclass
from typing import Literal

# invalid: the request asks for something no candidate can do (400); too_long: the prompt
# and completion fit no candidate's context window (400 context_length_exceeded);
# forbidden: the key, a rule or locality forbids it (403); not_found: no such model
# (404); unavailable: the model a rule pins is not serving (503).
RefusalKind = Literal["invalid", "too_long", "forbidden", "not_found", "unavailable"]


@dataclass(frozen=True)
class Refusal:
    reason: str  # the filter's or stage's reason code, as in decisions and logs
    kind: RefusalKind
    message: str  # what the client reads, naming the model and the numbers
    param: str | None = None  # the request field (or header) at fault


class RoutingRefused(Exception):
    """No model may serve the request; ``refusal`` says why."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal)
        self.refusal = refusal
