"""The Ray Serve config for a ``models.yaml``: what ``serve deploy`` and a KubeRay
``serveConfigV2`` take.

Every deployment's options come from the functions the app builder itself applies
(``router_options``, ``deployment_options``), so the config shows exactly what
``build_app`` deploys and the two cannot drift. The config is checked before it is
written: Ray's ``ServeDeploySchema``, then every key against Ray's schema models, since
those ignore unknown keys (a misspelt option would otherwise be dropped silently).
"""

import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from ray.serve.schema import ServeDeploySchema

from router.app import APP_NAME, SwitchboardArgs, build_app, router_options
from router.config import SwitchboardConfig
from router.config_errors import ConfigError, ConfigProblem
from serving.replica import deployment_options

IMPORT_PATH = f"{build_app.__module__}:{build_app.__name__}"
_RAY_HINT = "see Ray Serve's config file reference"
_ARGS_HINT = f"{IMPORT_PATH} takes {', '.join(SwitchboardArgs.model_fields)}"


def serve_config(config: SwitchboardConfig, args: SwitchboardArgs) -> dict[str, Any]:
    """The Serve config that deploys ``config``; ``args`` says where the application finds
    its ``models.yaml`` and prepared weights when it runs."""
    deployments = [router_options(config), *(deployment_options(m) for m in config.models)]
    application = {
        "name": APP_NAME,
        "route_prefix": "/",
        "import_path": IMPORT_PATH,
        "args": args.model_dump(exclude_none=True),
        "deployments": deployments,
    }
    document = {"applications": [application]}
    check_serve_config(document, source="generated Serve config")
    return document


def check_serve_config(document: Any, *, source: str) -> ServeDeploySchema:
    """Validate like ``serve deploy`` does, plus what it lets through: unknown keys, and
    ``args`` that ``build_app`` would reject only once deployed."""
    try:
        parsed = ServeDeploySchema.model_validate(document)
    except ValidationError as exc:
        problems = [_from_pydantic(e["loc"], e["msg"], _RAY_HINT) for e in exc.errors()]
        raise ConfigError(source, problems) from exc
    problems = [
        ConfigProblem(where, "unknown key: Ray Serve would ignore it", "remove it or fix its name")
        for where in unknown_keys(document, ServeDeploySchema)
    ]
    for index, application in enumerate(parsed.applications):
        if application.import_path == IMPORT_PATH:
            problems += _args_problems(application.args, f"applications[{index}].args")
    if problems:
        raise ConfigError(source, problems)
    return parsed


def unknown_keys(data: Any, schema: type[BaseModel], where: str = "") -> Iterator[str]:
    """Paths of the keys in ``data`` that ``schema`` (recursively) does not declare."""
    if not isinstance(data, Mapping):
        return
    fields = dict(schema.model_fields)
    fields |= {field.alias: field for field in fields.values() if field.alias}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        field = fields.get(key)
        if field is None:
            yield path
            continue
        nested = _nested_model(field.annotation)
        if nested is None:
            continue
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            yield from unknown_keys(item, nested, path if index is None else f"{path}[{index}]")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The schema model inside ``X``, ``list[X]``, ``X | None`` or ``dict | X`` (Ray turns
    a plain mapping there into ``X``), or None for a free-form value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = (_nested_model(arg) for arg in typing.get_args(annotation))
    return next((model for model in found if model is not None), None)


def _args_problems(args: Mapping[str, Any], where: str) -> list[ConfigProblem]:
    try:
        SwitchboardArgs.model_validate(args)
    except ValidationError as exc:
        return [_from_pydantic((where, *e["loc"]), e["msg"], _ARGS_HINT) for e in exc.errors()]
    return []


def _from_pydantic(loc: tuple[int | str, ...], message: str, hint: str) -> ConfigProblem:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return ConfigProblem(where.removeprefix("."), message, hint)
