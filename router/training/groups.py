"""Which tasks must stay on the same side of the held-out split.

Eval folders are not independent: some reuse another's samples (``test-includes`` and
``test-includes-ignore-case``) or its instructions (``logiqa`` / ``logiqa-v2``, the
``*-exams-qa`` family). Tasks that share a system prompt or a whole prompt are merged
into one group (union-find), and a prompt seen twice is kept once, so no held-out text
was seen in training.
"""

from collections.abc import Sequence

from router.classifier.text import routing_text
from router.training.labels import LabelledPrompt

_SHARED_SYSTEM_MIN_CHARS = 40  # shorter ones ("You are a helpful assistant") say nothing


def task_groups(records: Sequence[LabelledPrompt]) -> dict[str, str]:
    """task -> its group's name (the group's first task name in sorted order)."""
    parent = {r.task: r.task for r in records}

    def root(task: str) -> str:
        while parent[task] != task:
            parent[task] = parent[parent[task]]
            task = parent[task]
        return task

    owner: dict[str, str] = {}
    for record in records:
        for key in _shared_keys(record):
            if key in owner:
                a, b = sorted((root(owner[key]), root(record.task)))
                parent[b] = a
            else:
                owner[key] = record.task
    return {task: root(task) for task in parent}


def _shared_keys(record: LabelledPrompt) -> list[str]:
    systems = [m["content"] for m in record.messages if m["role"] == "system"]
    keys = ["prompt:" + routing_text(record.messages)]
    keys += ["system:" + s for s in systems if len(s) >= _SHARED_SYSTEM_MIN_CHARS]
    return keys
