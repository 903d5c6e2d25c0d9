"""The runner: the one place that orders the stages and combines their outputs.

rules -> candidates -> (a prompt too long for all of them, by its length alone, is refused
here) -> filters, which count exact tokens on first use -> (routed requests only) quality
estimate of every remaining candidate and the knob's tolerance -> scorers, each clamped
to [0, 1] and weighted (``router.scorers``) -> picker -> ``Decision``. A pinned model (by
the client or a rule) is the only candidate, but it still passes every filter.
"""

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from router.classifier.calibration import KnobCalibration
from router.classifier.model import Candidate, QualityPredictor
from router.routing.decision import Decision, Exclusion, RankedModel, RouteReason
from router.routing.facts import RequestFacts
from router.routing.policy import KnobPolicy
from router.routing.refusal import Refusal, RoutingRefused
from router.routing.rules import RuleBook
from router.routing.stages import Picker, QualityView, ScoredTarget, Scorer, TargetFilter
from router.routing.targets import RouteTarget
from router.routing.tokens import PromptTokenCounter, TokenCount
from serving.engine import GenerationRequest
from serving.limits import completion_budget


class RoutingPipeline:
    def __init__(
        self,
        *,
        targets: Sequence[RouteTarget],
        rules: RuleBook,
        counter: PromptTokenCounter,
        filters: Sequence[TargetFilter],
        predictor: QualityPredictor,
        calibration: KnobCalibration,
        policy: KnobPolicy,
        scorers: Mapping[Scorer, float],
        picker: Picker,
        embedding_ids: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``scorers``: each scorer with its weight; ``embedding_ids``: the embedding
        models, which a request naming them hears about by name."""
        self._targets = {t.id: t for t in targets}
        self._embedding_ids = embedding_ids
        self._rules, self._counter, self._filters = rules, counter, tuple(filters)
        self._predictor, self._calibration = predictor, calibration
        self._policy, self._scorers, self._picker = policy, dict(scorers), picker
        self._clock = clock

    def decide(self, facts: RequestFacts) -> Decision:
        """The decision; or ``RoutingRefused``, with the refusal of the candidate that got
        furthest when every one is excluded."""
        started = self._clock()
        facts = replace(facts, rules=self._rules.evaluate(facts))
        candidates, route = self._candidates(facts)
        self._refuse_surely_too_long(facts, candidates)
        counts = self._counter.lazily([t.id for t in candidates], facts.generation)
        facts = replace(facts, prompt_tokens=counts)
        kept, excluded = self._filter(facts, candidates)
        quality, knob = None, None
        if route == "classifier":
            knob = self._policy.choose(facts)
        if knob is not None and len(kept) > 1:
            knob = replace(knob, tolerance=self._calibration.tolerance(knob.large_share))
            estimate = self._predictor.estimate(
                facts.routing_text(), [Candidate(t.id, t.quality_tier) for t in kept]
            )
            quality = QualityView(estimate, knob.tolerance)
        elif route == "classifier":
            route, knob = "only-candidate", None
        ranked = self._picker.rank([self._scored(facts, t, quality) for t in kept])
        chosen = ranked[0].target
        chosen_count = counts.get(chosen.id)
        return Decision(
            model_id=ranked[0].target.id,
            route=route,
            ranked=tuple(RankedModel(s.target.id, s.scores, s.total) for s in ranked),
            excluded=tuple(excluded),
            estimate=quality.estimate if quality is not None else None,
            knob=knob,
            rules=facts.rules.matched,
            decision_ms=(self._clock() - started) * 1000.0,
            prompt_tokens=chosen_count if isinstance(chosen_count, int) else None,
            completion_budget=_completion_budget(chosen, chosen_count, facts.max_tokens),
        )

    def with_policy(self, rules: RuleBook, policy: KnobPolicy) -> "RoutingPipeline":
        """This pipeline under other rules and knob settings (a live policy change): the
        predictor, tokenizers and calibration, slow to build, are shared."""
        changed = copy.copy(self)
        changed._rules, changed._policy = rules, policy
        return changed

    def prompt_floor(self, request: GenerationRequest) -> int:
        """A lower bound of the prompt's tokens, known without counting them."""
        return self._counter.floor(request)

    def _refuse_surely_too_long(self, facts: RequestFacts, candidates: list[RouteTarget]) -> None:
        """A prompt whose length alone proves it fits no candidate is refused before any
        exact count: counting a 4 MiB prompt takes seconds of CPU. (A candidate without a
        tokenizer here, a provider without ``count_tokens_with``, turns this off.)"""
        floor = self._counter.floor(facts.generation, [t.id for t in candidates])
        widest = max(t.context_window for t in candidates)
        if floor >= widest:
            message = (
                f"This model's maximum context length is {widest} tokens. However, your "
                f"messages have at least {floor} tokens. Please reduce the length of the "
                "messages."
            )
            raise RoutingRefused(Refusal("context_window", "too_long", message, param="messages"))

    def _candidates(self, facts: RequestFacts) -> tuple[list[RouteTarget], RouteReason]:
        if not facts.is_routed:
            target = self._targets.get(facts.requested_model)
            if facts.requested_model in self._embedding_ids:
                message = (
                    f"Model '{facts.requested_model}' is an embedding model: it serves "
                    "/v1/embeddings, not chat or completions."
                )
                raise RoutingRefused(Refusal("task", "invalid", message, param="model"))
            if target is None:
                message = (
                    f"The model '{facts.requested_model}' does not exist or you do not have "
                    "access to it."
                )
                raise RoutingRefused(
                    Refusal("model_not_found", "not_found", message, param="model")
                )
            return [target], "pinned"
        pin = facts.rules.pin
        if pin is None:
            return list(self._targets.values()), "classifier"
        if pin not in self._targets:  # declared but not serving (a provider left off)
            rules = ", ".join(facts.rules.matched)
            message = f"Routing rules ({rules}) pin model {pin!r}, which is not serving."
            raise RoutingRefused(Refusal("rule_pin", "unavailable", message, param="model"))
        return [self._targets[pin]], "rule"

    def _filter(
        self, facts: RequestFacts, candidates: list[RouteTarget]
    ) -> tuple[list[RouteTarget], list[Exclusion]]:
        kept: list[RouteTarget] = []
        excluded: list[tuple[int, Exclusion]] = []
        for target in candidates:
            exclusion = self._first_exclusion(facts, target)
            if exclusion is None:
                kept.append(target)
            else:
                excluded.append(exclusion)
        if not kept:
            # The client hears about the model that got furthest through the filters.
            # On a tie, the model with the widest context window (its numbers are the
            # ones a client can act on).
            windows = {t.id: t.context_window for t in candidates}
            _, closest = max(excluded, key=lambda p: (p[0], windows[p[1].model_id]))
            raise RoutingRefused(closest.refusal)
        return kept, [exclusion for _, exclusion in excluded]

    def _first_exclusion(
        self, facts: RequestFacts, target: RouteTarget
    ) -> tuple[int, Exclusion] | None:
        for position, stage in enumerate(self._filters):
            refusal = stage.exclude(facts, target)
            if refusal is not None:
                return position, Exclusion(target.id, refusal)
        return None

    def _scored(
        self, facts: RequestFacts, target: RouteTarget, quality: QualityView | None
    ) -> ScoredTarget:
        scores = {
            s.name: min(1.0, max(0.0, s.score(facts, target, quality))) for s in self._scorers
        }
        total = sum(weight * scores[s.name] for s, weight in self._scorers.items())
        return ScoredTarget(target, scores, total)


def _completion_budget(
    target: RouteTarget, count: TokenCount | None, max_tokens: int | None
) -> int | None:
    """How many tokens each choice may generate on ``target`` (the filters already checked
    that the request fits); None when neither the request nor the model bounds it."""
    if isinstance(count, int):
        return completion_budget(
            count,
            max_tokens,
            context_window=target.context_window,
            max_output_tokens=target.max_output_tokens,
        )
    return max_tokens or target.max_output_tokens
