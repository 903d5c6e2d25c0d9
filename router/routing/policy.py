"""The quality knob: which share of routed traffic goes to models better than the cheapest.

Precedence (first that is set wins): the request header (``router.policy.knob_header``),
the alias the client asked for (``auto-economy``), the first matching rule, the key's
policy, the deployment default. A knob is a preset name or a share in [0, 1]; the
predictor's calibration (``KnobCalibration``) turns the share into a quality tolerance.
"""

from router.errors import InvalidRequest
from router.policy_config import Knob, PolicySettings
from router.routing.decision import KnobChoice
from router.routing.facts import RequestFacts


class KnobPolicy:
    def __init__(self, settings: PolicySettings) -> None:
        self._settings = settings
        self._header = settings.knob_header.lower()

    def choose(self, facts: RequestFacts) -> KnobChoice:
        header = facts.headers.get(self._header)
        if header is not None:
            return KnobChoice(self._parse_header(header), "request-header")
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

    def _parse_header(self, value: str) -> float:
        value = value.strip()
        if value in self._settings.presets:
            return self._settings.presets[value]
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not 0.0 <= share <= 1.0:
            presets = ", ".join(sorted(self._settings.presets))
            raise InvalidRequest(
                f"Header {self._settings.knob_header} must be a preset ({presets}) or a "
                f"number between 0 and 1; got {value!r}.",
                param=self._settings.knob_header,
            )
        return share
