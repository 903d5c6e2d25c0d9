"""Arguments more than one command takes."""

import argparse
from pathlib import Path


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--models-dir``, as a command that reads a fleet here takes them."""
    add_config_arg(parser)
    add_models_dir_arg(parser)


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """``--config``: the fleet config to read."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("models.yaml"),
        help="fleet config (default: ./models.yaml)",
    )


def add_models_dir_arg(parser: argparse.ArgumentParser) -> None:
    """``--models-dir``: where the prepared model folders are."""
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="prepared model folders (default: $SWITCHBOARD_MODELS_DIR "
        "or ~/.cache/switchboard/models)",
    )
