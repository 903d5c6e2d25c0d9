"""The engine specs: every configurable engine has one, and the router reads them
without importing an engine."""

import subprocess
import sys
import typing

from serving.config import EngineName
from serving.engines import ENGINES


def test_every_engine_name_has_a_spec() -> None:
    assert set(ENGINES) == set(typing.get_args(EngineName))


def test_reading_the_specs_imports_no_engine() -> None:
    code = (
        "import sys, serving.engines; "
        "print(any(m in sys.modules for m in ('vllm', 'serving.vllm_engine',"
        " 'serving.transformers_engine')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
