"""``switchboard route``'s work: the routing decision for a prompt, offline (no Ray, no
model weights beyond the tokenizers): the same pipeline the router replica builds."""

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from router.auth import ANONYMOUS, Caller
from router.config import SwitchboardConfig
from router.config_loader import load_config
from router.error_mapping import refusal_error
from router.errors import ApiError, InvalidRequest, error_payload
from router.http.translate import chat_request
from router.openai_types import ChatCompletionRequest
from router.routing.build import build_pipeline
from router.routing.decision import Decision
from router.routing.facts import RequestFacts
from router.routing.pipeline import RoutingPipeline
from router.routing.refusal import RoutingRefused
from serving.weights import default_models_dir


def route(args: argparse.Namespace) -> int:
    """Run ``switchboard route`` (its arguments: ``router.cli.route_command``)."""
    config = load_config(args.config)
    pipeline = build_pipeline(
        config, args.models_dir or default_models_dir(), enabled=_enabled(config, os.environ)
    )
    caller = _caller(config, args.key_name)
    headers = dict(_header(h) for h in args.header)
    if args.prompt != "-":
        message = {"role": "user", "content": args.prompt}
        body: dict[str, Any] = {"model": args.model, "messages": [message]}
        if args.max_tokens is not None:
            body["max_tokens"] = args.max_tokens
        return _print_one(_decide(pipeline, config, body, caller, headers), args.json)
    for line in sys.stdin:
        if line.strip():
            outcome = _decide(pipeline, config, line, caller, headers)
            shown = outcome.as_dict() if isinstance(outcome, Decision) else error_payload(outcome)
            print(json.dumps(shown), flush=True)
    return 0


def _decide(
    pipeline: RoutingPipeline,
    config: SwitchboardConfig,
    body: dict[str, Any] | str,
    caller: Caller,
    headers: Mapping[str, str],
) -> Decision | ApiError:
    """``body``: a request as data, or one JSON line."""
    try:
        if isinstance(body, str):
            request = ChatCompletionRequest.model_validate_json(body)
        else:
            request = ChatCompletionRequest.model_validate(body)
        generation = chat_request(request, "route")
        facts = RequestFacts.of_request(
            request,
            generation,
            caller=caller,
            headers=headers,
            aliases=config.router.aliases,
            policy=config.router.policy,
        )
        return pipeline.decide(facts)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return InvalidRequest(f"not a chat completion request: {where}: {first['msg']}")
    except RoutingRefused as exc:
        return refusal_error(exc.refusal)
    except ApiError as exc:  # the body's translation refused it
        return exc


def _print_one(outcome: Decision | ApiError, as_json: bool) -> int:
    if isinstance(outcome, ApiError):
        print(json.dumps(error_payload(outcome)) if as_json else f"refused: {outcome.message}")
        return 1
    if as_json:
        print(json.dumps(outcome.as_dict()))
        return 0
    shown = outcome.as_dict()
    print(f"model: {shown['model']}  (route: {shown['route']}, {shown['decision_ms']} ms)")
    for key in ("estimate", "knob", "rules", "ranked", "excluded"):
        print(f"{key}: {json.dumps(shown[key])}")
    return 0


def _enabled(config: SwitchboardConfig, environ: Mapping[str, str]) -> set[str]:
    """The ids a server started with this environment would serve."""
    local = {m.id for m in config.models}
    return local | {p.id for p in config.external_providers if p.base_url(environ)}


def _caller(config: SwitchboardConfig, key_name: str | None) -> Caller:
    if key_name is None:
        return ANONYMOUS
    return Caller.named(key_name, config.auth.keys)


def _header(value: str) -> tuple[str, str]:
    name, _, content = value.partition(":")
    return name.strip().lower(), content.strip()
