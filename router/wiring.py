"""Assemble the router's context from the typed config and the engines it can reach:
the one place that wires routing, load view, circuit breakers and dispatch together,
for the Serve replica (``router.http.ingress``) and the in-process test server alike;
and the one place that changes a running router's live policy."""

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.dispatch.dispatcher import Dispatcher
from router.embedding_service import EmbeddingService
from router.load.circuit_breaker import CircuitBreaker
from router.load.poller import LoadPoller, LoadSource
from router.load.rate_limit import RateLimiter
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.metrics.instruments import Instruments
from router.metrics.router_metrics import RouterMetrics
from router.model_cards import ModelCard, model_cards
from router.policy_config import SpendBudget
from router.routing.build import build_pipeline
from router.routing.embedding_route import EmbeddingRoute
from router.routing.policy import KnobPolicy
from router.routing.rules import RuleBook
from router.routing.targets import embedding_targets, route_targets
from router.service import RequestService, RouterContext
from serving.embedding import Embedder
from serving.engine import Engine

# Decisions are CPU work (token counts, the classifier): a few threads keep both cores
# busy; more would only queue inside the GIL.
DECISION_THREADS = 4


def build_context(
    config: SwitchboardConfig,
    engines: Mapping[str, Engine],
    load_sources: Mapping[str, LoadSource],
    models_dir: Path,
    auth: ApiKeyAuth,
    instruments: Instruments,
    embedders: Mapping[str, Embedder] | None = None,
) -> RouterContext:
    """``engines``: every serving model that generates, by id; ``load_sources``: the
    local ones' stats (embedding models' too); ``instruments``: where metrics go (Ray's
    exporter in a Serve replica); ``embedders``: the embedding models, by id."""
    embedders = embedders or {}
    enabled = set(engines) | set(embedders)
    clock = time.monotonic
    local = {m.id: m for m in config.models if m.id in load_sources}
    timeouts_s = {m.id: m.saturation.stale_after_s for m in local.values()}
    poller = LoadPoller(load_sources, config.router.load_poll_interval_s, clock, timeouts_s)
    breakers = {
        p.id: CircuitBreaker(p.circuit_breaker, clock)
        for p in config.external_providers
        if p.id in engines
    }
    saturation = SaturationView(poller, local, clock)
    spend = _spend_guard(config, clock)
    metrics = _router_metrics(config, enabled, instruments)
    poller.add_listener(lambda: metrics.report_load(saturation, breakers, spend))
    poller.add_listener(auth.reload_if_changed)  # keys rotate without a restart
    limiter = RateLimiter(config.router.num_replicas, clock)  # a key's, whatever it asks
    service = RequestService(
        pipeline=build_pipeline(config, models_dir, enabled=enabled),
        dispatcher=Dispatcher(
            engines, saturation, breakers, spend, config.router.request_timeout_s
        ),
        limiter=limiter,
        aliases=config.router.aliases,
        policy=config.router.policy,
        metrics=metrics,
        decisions=ThreadPoolExecutor(DECISION_THREADS, thread_name_prefix="decide"),
        log_prompts=config.router.log_prompts,
    )
    embeddings = EmbeddingService(
        route=_embedding_route(config, enabled),
        embedders=embedders,
        limiter=limiter,
        metrics=metrics,
        timeout_s=config.router.request_timeout_s,
    )
    return RouterContext(
        service=service,
        embeddings=embeddings,
        engines={**engines, **embedders},
        poller=poller,
        auth=auth,
        spend=spend,
        model_cards=_model_cards(config, enabled),
        max_body_bytes=config.router.max_body_bytes,
    )


def apply_live_policy(context: RouterContext, config: SwitchboardConfig) -> None:
    """Put ``config``'s live policy (aliases, knob settings, rules, key policies:
    ``LivePolicy``) into a running router. Requests already past routing finish under
    the policy that routed them; everything slow to build (tokenizers, the predictor)
    is kept."""
    settings = config.router
    service = context.service
    pipeline = service.pipeline.with_policy(RuleBook(settings.rules), KnobPolicy(settings.policy))
    context.service = replace(
        service, pipeline=pipeline, aliases=settings.aliases, policy=settings.policy
    )
    enabled = set(context.engines)
    context.embeddings = replace(context.embeddings, route=_embedding_route(config, enabled))
    context.model_cards = _model_cards(config, enabled)
    context.auth.set_policies(config.auth.keys)
    context.spend.set_key_budgets(_key_budgets(config))


def _model_cards(config: SwitchboardConfig, enabled: set[str]) -> tuple[ModelCard, ...]:
    chat, embedding = route_targets(config, enabled), embedding_targets(config, enabled)
    return model_cards(chat, embedding, config.router.aliases)


def _embedding_route(config: SwitchboardConfig, enabled: set[str]) -> EmbeddingRoute:
    chat = [t.id for t in route_targets(config, enabled)] + list(config.router.aliases)
    return EmbeddingRoute(embedding_targets(config, enabled), chat)


def _key_budgets(config: SwitchboardConfig) -> dict[str, SpendBudget]:
    return {name: policy.external_budget for name, policy in config.auth.keys.items()}


def _spend_guard(config: SwitchboardConfig, clock: Callable[[], float]) -> SpendGuard:
    return SpendGuard(
        prices={p.id: p.cost for p in config.external_providers},
        deployment=config.router.external_budget,
        per_key=_key_budgets(config),
        router_replicas=config.router.num_replicas,
        clock=clock,
    )


def _router_metrics(
    config: SwitchboardConfig, serving: set[str], instruments: Instruments
) -> RouterMetrics:
    targets = route_targets(config, serving)
    # The always-largest baseline: the top quality tier (the dearer one on a tie).
    top = max(targets, key=lambda t: (t.quality_tier, t.cost.output_per_mtok))
    prices = {t.id: t.cost for t in targets}
    prices |= {t.id: t.cost for t in embedding_targets(config, serving)}
    external = frozenset(p.id for p in config.external_providers)
    return RouterMetrics(instruments, prices, top.cost, time.perf_counter, external)
