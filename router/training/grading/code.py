"""Code graded by executing its tests, in a separate short-lived Python process.

The answer's code is the first fenced block that defines the function (else the first
block, else the whole answer). A whole function stands alone after the prompt's imports;
a body-only answer is appended to the prompt's signature, as HumanEval's own harness
does. Then the tests run; exit status 0 after the last test line passes.

Generated code is untrusted: it runs in isolated mode (``python -I``), in an empty
temporary directory, with a wall-clock timeout and caps on CPU time, memory and file
size (the caps are best effort: this is a grader for labels on a developer machine, not
a sandbox for hostile code).
"""

import re
import resource
import secrets
import subprocess
import sys
import tempfile

_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)(?:```|$)", re.DOTALL)
_TIMEOUT_S = 10.0
_CPU_S = 10
_MEMORY_BYTES = 1 << 30
_FILE_BYTES = 1 << 20


def is_code_correct(answer: str, code_prefix: str, tests: str) -> bool:
    # The tests passed only if the line after them runs: an answer that exits early
    # (``sys.exit(0)``) must not pass by skipping them.
    finished = f"tests-finished-{secrets.token_hex(8)}"
    source = program(answer, code_prefix) + "\n\n" + tests + f"\nprint({finished!r})\n"
    return _passes(source, finished)


def program(answer: str, code_prefix: str) -> str:
    code = _answer_code(answer, _function_name(code_prefix))
    if re.search(rf"^def {re.escape(_function_name(code_prefix))}\b", code, re.MULTILINE):
        return _imports(code_prefix) + "\n" + code
    return code_prefix + code


def _answer_code(answer: str, function: str) -> str:
    blocks = _FENCE.findall(answer)
    defining = [b for b in blocks if f"def {function}" in b]
    chosen: str = (defining or blocks or [answer])[0]
    return chosen


def _function_name(code_prefix: str) -> str:
    names = re.findall(r"^def (\w+)", code_prefix, re.MULTILINE)
    return names[-1] if names else ""


def _imports(code_prefix: str) -> str:
    return "\n".join(
        line for line in code_prefix.splitlines() if line.startswith(("import ", "from "))
    )


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (_CPU_S, _CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_BYTES, _FILE_BYTES))


def _passes(source: str, finished: str) -> bool:
    with tempfile.TemporaryDirectory() as workdir:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", source],
                cwd=workdir,
                capture_output=True,
                timeout=_TIMEOUT_S,
                preexec_fn=_limits,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0 and done.stdout.decode(errors="replace").rstrip().endswith(finished)
