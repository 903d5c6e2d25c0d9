"""The quality knob: which share of routed traffic goes to models better than the cheapest.

Precedence (first that is set wins): the request header (``router.policy.knob_header``,
read and validated when the facts are built), the alias the client asked for
(``auto-economy``), the first matching rule, the key's policy, the deployment default.
A knob is a preset name or a share in [0, 1]; the predictor's calibration
(``KnobCalibration``) turns the share into a quality tolerance.
"""

from router.policy_config import Knob, PolicySettings
from router.routing.decision import KnobChoice
from router.routing.facts import RequestFacts


class KnobPolicy:
    def __init__(self, settings: PolicySettings) -> None:
        self._settings = settings

    def choose(self, facts: RequestFacts) -> KnobChoice:
        if facts.knob_header is not None:
            return KnobChoice(facts.knob_header, "request-header")
        candidates: list[tuple[Knob | None, str]] = [
            (facts.alias_knob, "alias"),
            (facts.rules.knob, f"rule:{facts.rules.knob_rule}"),
            (facts.caller.policy.knob, "key"),
        ]
        for knob, source in candidates:
            if knob is not None:
                return KnobChoice(self.share(knob), source)
        return KnobChoice(self.share(self._settings.default), "deployment")

    def share(self, knob: Knob) -> float:
        return self._settings.presets[knob] if isinstance(knob, str) else knob
