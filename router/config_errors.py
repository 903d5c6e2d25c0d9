"""What a bad ``models.yaml`` raises: every problem with the path of its field and a hint.

Apart from ``router.config_loader`` so that code which only reports these (the CLI's
entry point) need not import the loader's checks and, through them, transformers.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigProblem:
    location: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message} (hint: {self.hint})"


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        super().__init__(source, problems)
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        lines = [f"invalid configuration {self.source}:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)
