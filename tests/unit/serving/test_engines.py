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


def test_the_vllm_engine_module_imports_without_vllm() -> None:
    """vLLM is imported when the engine starts, so the router process never loads it."""
    code = "import sys, serving.vllm_engine; sys.exit('vllm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
