"""Label generation, RouteLLM's "benchmark-augmented" recipe on the fleet's own models.

Every gradable prompt is answered by the small and the large model (greedy, a short
budget, the model's own chat template through the same ``Engine`` that serves it), each
answer is graded against the references, and one record per prompt is written:
``small_correct``, ``large_correct``, category, task and token count. Retraining on a
user's own traffic means writing records of the same shape.
"""

import asyncio
import gzip
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from router.classifier.grading import is_correct
from router.classifier.sources import GradablePrompt
from serving.engine import ChatPrompt, Engine, GenerationRequest, SamplingOptions
from serving.errors import EngineError

logger = logging.getLogger(__name__)
ANSWER_TOKENS = 48  # references are short; a longer budget only adds drift to grade
_IN_FLIGHT = 32


@dataclass(frozen=True)
class LabelledPrompt:
    task: str
    category: str
    messages: tuple[dict[str, str], ...]
    ideals: tuple[str, ...]
    prompt_tokens: int  # counted by the large model's template
    small_answer: str
    large_answer: str
    small_correct: bool
    large_correct: bool

    @property
    def small_suffices(self) -> bool:
        """The training target: the small answer is as good as the large one."""
        return self.small_correct or not self.large_correct


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int  # 0: the engine refused the prompt (e.g. over its context)


async def answer_all(engine: Engine, prompts: Sequence[GradablePrompt]) -> list[Answer]:
    gate = asyncio.Semaphore(_IN_FLIGHT)
    done = 0

    async def one(index: int, prompt: GradablePrompt) -> Answer:
        nonlocal done
        async with gate:
            answer = await _answer(engine, f"label-{index}", prompt)
        done += 1
        if done % 100 == 0:
            logger.info("answered %d/%d", done, len(prompts))
        return answer

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))


async def _answer(engine: Engine, request_id: str, prompt: GradablePrompt) -> Answer:
    request = GenerationRequest(
        request_id=request_id,
        prompt=ChatPrompt(messages=prompt.messages),
        sampling=SamplingOptions(max_tokens=ANSWER_TOKENS, temperature=0.0),
    )
    text, tokens = "", 0
    try:
        async for chunk in engine.generate(request):
            text += "".join(delta.text for delta in chunk.deltas)
            if chunk.usage is not None:
                tokens = chunk.usage.prompt_tokens
    except EngineError as exc:  # e.g. a template that refuses the turn order: no answer
        logger.warning("%s: %s", request_id, exc)
    return Answer(text=text, prompt_tokens=tokens)


def label(
    prompts: Sequence[GradablePrompt], small: Sequence[Answer], large: Sequence[Answer]
) -> list[LabelledPrompt]:
    """Grade both answers of every prompt both models accepted (a refused prompt says
    nothing about which model answers better)."""
    return [
        LabelledPrompt(
            task=p.task,
            category=p.category,
            messages=p.messages,
            ideals=p.ideals,
            prompt_tokens=b.prompt_tokens,
            small_answer=a.text,
            large_answer=b.text,
            small_correct=is_correct(a.text, p.ideals),
            large_correct=is_correct(b.text, p.ideals),
        )
        for p, a, b in zip(prompts, small, large, strict=True)
        if a.prompt_tokens and b.prompt_tokens
    ]


def write_labels(path: Path, records: Iterable[LabelledPrompt]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same labels give the same bytes, so a rerun shows no diff.
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        for record in records:
            raw.write((json.dumps(asdict(record), ensure_ascii=False) + "\n").encode())


def read_labels(path: Path) -> list[LabelledPrompt]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [_record(json.loads(line)) for line in lines if line.strip()]


def _record(raw: dict[str, Any]) -> LabelledPrompt:
    return LabelledPrompt(
        **{**raw, "messages": tuple(raw["messages"]), "ideals": tuple(raw["ideals"])}
    )
