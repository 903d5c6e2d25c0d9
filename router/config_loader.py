"""The one YAML reader: ``models.yaml`` -> ``SwitchboardConfig`` or a ``ConfigError``.

Every problem is reported with the path of the bad field (``models[1].context_window``)
and a one-line hint, so an operator fixes the file without reading our source.
"""

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from router.config import LivePolicy, SwitchboardConfig
from router.config_errors import ConfigError, ConfigProblem
from router.routing.scorers import SCORERS
from serving.config import EngineName
from serving.weights import missing_weights, model_context_limit, prepared_dir

# Keyed by pydantic error type; the error message already says what was wrong.
_HINTS = {
    "extra_forbidden": "remove this key or fix its spelling",
    "missing": "add this required key",
    "int_parsing": "write a whole number without quotes",
    "int_type": "write a whole number without quotes",
    "float_parsing": "write a number without quotes",
    "float_type": "write a number without quotes",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it if YAML reads it as something else)",
    "list_type": "write a YAML list (`- item` lines or `[a, b]`)",
    "model_type": "write a mapping of key: value lines",
    "model_attributes_type": "write a mapping of key: value lines",
    "string_pattern_mismatch": "use only letters, digits and . _ : / - (hex for sha256)",
    "literal_error": "use one of the values listed",
    "union_tag_invalid": "set `source` to one of the values listed",
    "union_tag_not_found": "add a `source` key (packaged_gguf, packaged_folder or folder)",
    "too_short": "add at least one entry",
}
_RANGE_HINT = "use a value inside the allowed range"
_DEFAULT_HINT = "see the configuration reference in README.md"


def load_config(path: Path, *, engine: EngineName | None = None) -> SwitchboardConfig:
    """Read and validate the file; raise ``ConfigError`` listing every problem. ``engine``
    serves every local model on that engine instead of its ``engine`` (``switchboard
    serve --engine``): one fleet file for machines with and without vLLM's CPU build."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [_problem("<file>", str(exc), "check the path")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        problem = _problem(where, str(exc).splitlines()[0], "fix the YAML syntax")
        raise ConfigError(str(path), [problem]) from exc
    if engine is not None and isinstance(raw, dict) and isinstance(raw.get("models"), list):
        raw["models"] = [
            {**model, "engine": engine} if isinstance(model, dict) else model
            for model in raw["models"]
        ]
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, *, source: str = "<config>") -> SwitchboardConfig:
    try:
        config = SwitchboardConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, [_from_pydantic(error) for error in exc.errors()]) from exc
    _check_scorers(config, source)
    return config


def parse_live_policy(raw: Any, fleet: SwitchboardConfig, *, source: str) -> SwitchboardConfig:
    """``fleet`` under the live policy ``raw`` (a ``LivePolicy`` document: the router's
    Serve ``user_config``); ``ConfigError`` if it is malformed or names what the fleet
    lacks (a model, a preset)."""
    try:
        return fleet.with_live_policy(LivePolicy.model_validate(raw))
    except ValidationError as exc:
        raise ConfigError(source, [_from_pydantic(error) for error in exc.errors()]) from exc


def _check_scorers(config: SwitchboardConfig, source: str) -> None:
    # Here, not in the schema: the scorer registry lives in the routing package, which
    # imports the schema.
    unknown = sorted(set(config.router.scorers) - set(SCORERS))
    if unknown:
        hint = f"known: {', '.join(sorted(SCORERS))}"
        raise ConfigError(
            source, [_problem("router.scorers", f"unknown scorer(s) {unknown}", hint)]
        )


def check_weights(config: SwitchboardConfig, models_dir: Path, *, source: str) -> None:
    """Fail start-up when a local model has no usable weights folder, or is configured
    with a longer context window than the model supports."""
    problems = []
    for index, model in enumerate(config.models):
        reason = missing_weights(model, models_dir)
        if reason is not None:
            hint = "run `switchboard models prepare` (make setup does it)"
            problems.append(_problem(f"models[{index}].weights", reason, hint))
            continue
        limit = model_context_limit(prepared_dir(model, models_dir))
        if limit is not None and model.context_window > limit:
            message = (
                f"{model.context_window} is more than the model supports ({limit}, its "
                "max_position_embeddings)"
            )
            hint = f"set context_window to at most {limit}"
            problems.append(_problem(f"models[{index}].context_window", message, hint))
    if problems:
        raise ConfigError(source, problems)


def _problem(location: str, message: str, hint: str) -> ConfigProblem:
    return ConfigProblem(location=location, message=message, hint=hint)


def _from_pydantic(error: ErrorDetails) -> ConfigProblem:
    loc = error["loc"]
    location = _format_location(loc)
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return _problem(location, f"unknown key {loc[-1]!r}", _unknown_key_hint(loc))
    if kind.startswith(("greater_than", "less_than")):
        return _problem(location, message, _RANGE_HINT)
    return _problem(location, message, _HINTS.get(kind, _DEFAULT_HINT))


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _unknown_key_hint(loc: tuple[int | str, ...]) -> str:
    allowed = _allowed_keys(loc[:-1])
    if not allowed:
        return _HINTS["extra_forbidden"]
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"allowed keys here: {', '.join(sorted(allowed))}"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Walk the schema along ``loc`` to list the keys accepted at that level."""
    candidates: list[type[BaseModel]] = [SwitchboardConfig]
    for part in loc:
        if isinstance(part, int):  # a list index: the element type is already unwrapped
            continue
        fields = [c.model_fields[part] for c in candidates if part in c.model_fields]
        if fields:
            candidates = _model_classes(fields[0].annotation)
        else:  # a discriminated-union tag such as 'packaged_gguf'
            candidates = [c for c in candidates if _has_tag(c, part)]
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _has_tag(cls: type[BaseModel], tag: str) -> bool:
    source = cls.model_fields.get("source")
    return source is not None and tag in typing.get_args(source.annotation)


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic classes inside ``list[X]``, ``X | None``, ``Annotated[A | B, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [cls for arg in typing.get_args(annotation) for cls in _model_classes(arg)]
