"""A resumable label run: every prompt answered by every model, checkpointed per answer.

Answers are appended to a checkpoint (JSON lines, one per prompt and model, graded as they
arrive) the moment they finish, so a killed run loses at most the answers in flight and a
rerun with the same prompts goes on where it stopped. Prompts are taken in chunks, each
answered by every model before the next, and the label file is rewritten after every
chunk: a run stopped part-way leaves complete records for the chunks it finished.
"""

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from router.training.grading import grade
from router.training.labels import LabelledPrompt, ModelAnswer, write_labels
from router.training.sources import GradablePrompt
from serving.engine import ChatPrompt, Engine, GenerationRequest, SamplingOptions
from serving.errors import EngineError

logger = logging.getLogger(__name__)
IN_FLIGHT = 32  # the label fleet's vLLM batch (max_num_seqs)
CHUNK = 128


@dataclass(frozen=True)
class Answered:
    answer: ModelAnswer
    prompt_tokens: int


Checkpoint = dict[tuple[str, str], Answered]  # (prompt id, model id) -> its answer


def read_checkpoint(path: Path) -> Checkpoint:
    done: Checkpoint = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the run was killed
            answer = ModelAnswer(**row["answer"])
            done[(row["id"], row["model"])] = Answered(answer, int(row["prompt_tokens"]))
    return done


def _cut_short(path: Path) -> bool:
    """Whether the file's last line lacks its newline (the run was killed mid-write)."""
    with path.open("rb") as raw:
        if raw.seek(0, 2) == 0:
            return False
        raw.seek(-1, 2)
        return raw.read(1) != b"\n"


async def label_run(
    prompts: Sequence[GradablePrompt],
    engines: Mapping[str, Engine],
    checkpoint: Path,
    out: Path,
    given: Sequence[LabelledPrompt] = (),
    regrade: bool = False,
) -> list[LabelledPrompt]:
    """``given``: records that came graded (a user's own labels), written out alongside;
    ``regrade``: grade every checkpointed answer again with today's graders first."""
    done = read_checkpoint(checkpoint)
    if regrade:
        done = await regraded(prompts, done)
        _rewrite(checkpoint, done)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    started, total = time.monotonic(), len(prompts) * len(engines)
    fresh = 0
    with checkpoint.open("a", encoding="utf-8") as log:
        if _cut_short(checkpoint):
            log.write("\n")  # else the next answer would join the cut line and be lost too
        for start in range(0, len(prompts), CHUNK):
            chunk = prompts[start : start + CHUNK]
            for model_id, engine in engines.items():
                missing = [p for p in chunk if (p.id, model_id) not in done]
                for prompt, answered in await _answer_all(engine, missing):
                    done[(prompt.id, model_id)] = answered
                    log.write(json.dumps(_checkpoint_row(prompt.id, model_id, answered)) + "\n")
                    log.flush()
                fresh += len(missing)
            records = labelled(prompts, list(engines), done)
            write_labels(out, [*given, *records])
            _progress(len(records), len(prompts), len(done), total, fresh, started)
    return [*given, *labelled(prompts, list(engines), done)]


async def grade_only(
    prompts: Sequence[GradablePrompt],
    models: Sequence[str],
    checkpoint: Path,
    out: Path,
    given: Sequence[LabelledPrompt] = (),
) -> list[LabelledPrompt]:
    """The label file from the checkpoint alone, every answer graded again and nothing
    generated (no engine starts): for a run stopped early or a changed grader."""
    done = await regraded(prompts, read_checkpoint(checkpoint))
    _rewrite(checkpoint, done)
    records = [*given, *labelled(prompts, models, done)]
    write_labels(out, records)
    return records


async def regraded(prompts: Sequence[GradablePrompt], done: Checkpoint) -> Checkpoint:
    """``done`` with every answer to one of ``prompts`` graded again (answers to other
    prompts are dropped: they belong to no prompt of this run)."""
    by_id = {p.id: p for p in prompts}

    async def one(key: tuple[str, str], answered: Answered) -> tuple[tuple[str, str], Answered]:
        answer = answered.answer
        if answer.finish_reason != "error":
            correct = await asyncio.to_thread(grade, by_id[key[0]], answer.text)
            answered = replace(answered, answer=replace(answer, correct=correct))
        return key, answered

    pending = [one(key, a) for key, a in done.items() if key[0] in by_id]
    return dict(await asyncio.gather(*pending))


def _rewrite(checkpoint: Path, done: Checkpoint) -> None:
    partial = checkpoint.with_suffix(".rewrite")
    with partial.open("w", encoding="utf-8") as log:
        for (prompt_id, model_id), answered in done.items():
            log.write(json.dumps(_checkpoint_row(prompt_id, model_id, answered)) + "\n")
    partial.replace(checkpoint)  # atomic: a kill mid-rewrite keeps the old file


def labelled(
    prompts: Sequence[GradablePrompt], models: Sequence[str], done: Checkpoint
) -> list[LabelledPrompt]:
    """Records of the prompts every model answered; a prompt any engine refused (over its
    context, say) is left out: it says nothing about which model answers better."""
    records = []
    for prompt in prompts:
        answers = [done.get((prompt.id, m)) for m in models]
        if all(a is not None and a.answer.finish_reason != "error" for a in answers):
            found = [a for a in answers if a is not None]
            records.append(
                LabelledPrompt(
                    prompt,
                    found[-1].prompt_tokens,
                    {m: a.answer for m, a in zip(models, found, strict=True)},
                )
            )
    return records


async def _answer_all(
    engine: Engine, prompts: Sequence[GradablePrompt]
) -> list[tuple[GradablePrompt, Answered]]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(prompt: GradablePrompt) -> tuple[GradablePrompt, Answered]:
        async with gate:
            text, tokens, finish, prompt_tokens = await _generate(engine, prompt)
        # Graded off the event loop: a code answer runs its tests in a subprocess.
        correct = await asyncio.to_thread(grade, prompt, text) if finish != "error" else False
        return prompt, Answered(ModelAnswer(correct, text, tokens, finish), prompt_tokens)

    return list(await asyncio.gather(*(one(p) for p in prompts)))


async def _generate(engine: Engine, prompt: GradablePrompt) -> tuple[str, int, str, int]:
    request = GenerationRequest(
        request_id=f"label-{prompt.id}",
        prompt=ChatPrompt(messages=prompt.messages),
        sampling=SamplingOptions(max_tokens=prompt.answer_budget, temperature=0.0),
    )
    text, finish, usage = "", "", None
    try:
        async for chunk in engine.generate(request):
            for delta in chunk.deltas:
                text += delta.text
                finish = delta.finish_reason or finish
            usage = chunk.usage or usage
    except EngineError as exc:  # e.g. a template that refuses the turn order: no answer
        logger.warning("%s: %s", request.request_id, exc)
        return "", 0, "error", 0
    if usage is None:
        return text, 0, finish or "stop", 0
    return text, usage.completion_tokens, finish or "stop", usage.prompt_tokens


def _checkpoint_row(prompt_id: str, model_id: str, answered: Answered) -> dict[str, object]:
    return {
        "id": prompt_id,
        "model": model_id,
        "prompt_tokens": answered.prompt_tokens,
        "answer": asdict(answered.answer),
    }


def _progress(
    records: int, prompts: int, answers: int, total: int, fresh: int, started: float
) -> None:
    elapsed = time.monotonic() - started
    rate = fresh / elapsed if elapsed > 0 else 0.0
    eta = (total - answers) / rate / 60 if rate > 0 else float("nan")
    logger.info(
        "labelled %d/%d prompts (%d/%d answers, %.2f answers/s, about %.0f min left)",
        records, prompts, answers, total, rate, eta,
    )  # fmt: skip
