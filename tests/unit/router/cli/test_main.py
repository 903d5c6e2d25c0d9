"""``switchboard`` itself: help and version answer at once, and every option is explained."""

import argparse
import importlib.metadata
import re
import subprocess
import sys

import pytest

from harness.configs import REPO
from router.cli.main import _parser, main

HEAVY = ("torch", "transformers", "ray", "sklearn", "vllm")


def _options_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                missing += _options_without_help(command, f"{path} {name}")
        elif not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def _commands(parser: argparse.ArgumentParser, path: str) -> list[str]:
    """Every runnable command line, e.g. ``switchboard models prepare``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [path]
    return [c for name, sub in groups[0].choices.items() for c in _commands(sub, f"{path} {name}")]


def test_the_readme_table_lists_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(switchboard(?: [a-z]+)+)", table, flags=re.MULTILINE))
    assert set(_commands(_parser(), "switchboard")) <= listed


def test_every_option_of_every_command_has_help() -> None:
    assert _options_without_help(_parser(), "switchboard") == []


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"switchboard {importlib.metadata.version('switchboard')}\n"


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["route", "--help"]])
def test_help_imports_no_engine_or_framework(argv: list[str]) -> None:
    """Each of these takes seconds to import; ``--help`` must not wait for them."""
    probe = (
        "import sys\n"
        "from router.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "usage: switchboard" in shown
    assert shown.rstrip().endswith("[]"), shown[-300:]
