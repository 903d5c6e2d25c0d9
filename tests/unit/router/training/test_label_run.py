"""A resumable label run over fake engines that answer deterministically."""

import json
import time
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path

import pytest

from router.training import label_run as label_run_module
from router.training.label_run import grade_only, label_run, read_checkpoint
from router.training.labels import ModelAnswer, read_labels
from router.training.sources import ANSWER_TOKENS, LONG_ANSWER_TOKENS, GradablePrompt, Reference
from serving.engine import (
    ChatPrompt,
    ChoiceDelta,
    Engine,
    EngineStats,
    GenerationChunk,
    GenerationRequest,
    Usage,
)
from serving.errors import ContextLengthExceeded


def user(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


CAPITAL = GradablePrompt(
    "evals", "capitals", "knowledge", "match", user("Capital of France?"), Reference(("Paris",))
)
SUM = GradablePrompt("mtbench", "sums", "math", "number", user("2+2?"), Reference(("4",)))
SKY = GradablePrompt(
    "bigbench", "sky", "knowledge", "choice", user("Sky?\n(A) red\n(B) blue"),
    Reference(choices=("red", "blue"), correct=1),
)  # fmt: skip
ADD = GradablePrompt(
    "humaneval", "HumanEval/0", "code", "code", user("Complete add(x, y)."),
    Reference(code_prefix="def add(x, y):\n", tests="assert add(2, 3) == 5\n"),
)  # fmt: skip
LONG = GradablePrompt(
    "evals", "long", "knowledge", "match", user("A prompt too long for small."), Reference(("x",))
)
PROMPTS = [CAPITAL, SUM, SKY, ADD, LONG]

RIGHT = {  # prompt id -> answer
    CAPITAL.id: "It is Paris.",
    SUM.id: "2 + 2 = 4",
    SKY.id: "(B) blue",
    ADD.id: "```python\ndef add(x, y):\n    return x + y\n```",
    LONG.id: "x",
}
WRONG = {  # prompt id -> answer
    CAPITAL.id: "It is London.",
    SUM.id: "The answer is 5.",
    SKY.id: "(A)",
    ADD.id: "    return x - y\n",
    LONG.id: "x",
}


class FakeEngine:
    """Answers each prompt with a fixed text, streamed in two pieces, then usage."""

    def __init__(
        self, answers: Mapping[str, str], refuses: tuple[GradablePrompt, ...] = ()
    ) -> None:
        by_id = {p.id: p.messages[-1]["content"] for p in PROMPTS}
        self.answers = {by_id[prompt_id]: text for prompt_id, text in answers.items()}
        self.refuses = {p.messages[-1]["content"] for p in refuses}
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        self.requests.append(request)
        assert isinstance(request.prompt, ChatPrompt)
        question = str(request.prompt.messages[-1]["content"])
        if question in self.refuses:
            raise ContextLengthExceeded(5000, request.sampling.max_tokens, 4096)
        text = self.answers[question]
        yield GenerationChunk(deltas=(ChoiceDelta(0, text[:3]),))
        yield GenerationChunk(deltas=(ChoiceDelta(0, text[3:], finish_reason="stop"),))
        yield GenerationChunk(usage=Usage(prompt_tokens=len(question), completion_tokens=7))

    async def stats(self) -> EngineStats:
        return EngineStats(timestamp=time.time(), running=0, waiting=0)

    async def check_health(self) -> None:
        return None


def fleet() -> dict[str, FakeEngine]:
    return {"small": FakeEngine(WRONG, refuses=(LONG,)), "large": FakeEngine(RIGHT)}


async def run(engines: Mapping[str, Engine], tmp_path: Path) -> list[GradablePrompt]:
    records = await label_run(PROMPTS, engines, tmp_path / "ckpt.jsonl", tmp_path / "labels.gz")
    return [r.prompt for r in records]


def calls(engines: Mapping[str, FakeEngine]) -> int:
    return sum(len(e.requests) for e in engines.values())


async def test_every_prompt_is_answered_by_every_model_and_graded(tmp_path: Path) -> None:
    engines = fleet()
    assert all(isinstance(e, Engine) for e in engines.values())
    records = await label_run(
        PROMPTS, engines, tmp_path / "run" / "ckpt.jsonl", tmp_path / "out" / "labels.gz"
    )
    assert [r.prompt for r in records] == [CAPITAL, SUM, SKY, ADD]  # LONG: small refused it
    assert read_labels(tmp_path / "out" / "labels.gz") == records
    for record in records:
        assert list(record.answers) == ["small", "large"]
        assert record.answers["large"] == ModelAnswer(True, RIGHT[record.prompt.id], 7, "stop")
        assert record.answers["small"] == ModelAnswer(False, WRONG[record.prompt.id], 7, "stop")
        assert record.prompt_tokens == len(record.messages[-1]["content"])
    for engine in engines.values():
        assert sorted(r.request_id for r in engine.requests) == sorted(
            f"label-{p.id}" for p in PROMPTS
        )
        budgets = {r.request_id: r.sampling.max_tokens for r in engine.requests}
        assert budgets[f"label-{ADD.id}"] == LONG_ANSWER_TOKENS
        assert budgets[f"label-{CAPITAL.id}"] == ANSWER_TOKENS
        assert {r.sampling.temperature for r in engine.requests} == {0.0}


async def test_a_refused_prompt_is_checkpointed_but_left_out(tmp_path: Path) -> None:
    assert LONG not in await run(fleet(), tmp_path)
    done = read_checkpoint(tmp_path / "ckpt.jsonl")
    assert len(done) == len(PROMPTS) * 2
    assert done[(LONG.id, "small")].answer == ModelAnswer(False, "", 0, "error")
    assert done[(LONG.id, "large")].answer.correct  # the other model answered it
    rows = [json.loads(line) for line in (tmp_path / "ckpt.jsonl").read_text().splitlines()]
    assert {(row["id"], row["model"]) for row in rows} == set(done)


async def test_a_rerun_with_the_same_checkpoint_generates_nothing(tmp_path: Path) -> None:
    first = await run(fleet(), tmp_path)
    (tmp_path / "labels.gz").unlink()
    again = fleet()
    assert await run(again, tmp_path) == first
    assert calls(again) == 0  # the refused prompt is not retried either
    assert [r.prompt for r in read_labels(tmp_path / "labels.gz")] == first


async def test_a_checkpoint_cut_mid_line_is_tolerated(tmp_path: Path) -> None:
    first = await run(fleet(), tmp_path)
    checkpoint = tmp_path / "ckpt.jsonl"
    lines = checkpoint.read_text().splitlines(keepends=True)
    cut = json.loads(lines[-1])
    checkpoint.write_text("".join(lines[:-1]) + lines[-1][:20])  # killed while writing
    resumed = fleet()
    assert await run(resumed, tmp_path) == first
    assert [r.request_id for r in resumed[cut["model"]].requests] == [f"label-{cut['id']}"]
    assert calls(resumed) == 1  # only the answer that was cut short
    assert len(read_checkpoint(checkpoint)) == len(PROMPTS) * 2
    third = fleet()
    await run(third, tmp_path)
    assert calls(third) == 0  # the answer written after the cut line was kept


class Broken(FakeEngine):
    """Fails (not an EngineError: a crash that stops the run) on one prompt."""

    def __init__(self, answers: Mapping[str, str], fails: GradablePrompt) -> None:
        super().__init__(answers)
        self.fails = fails.messages[-1]["content"]

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        assert isinstance(request.prompt, ChatPrompt)
        if request.prompt.messages[-1]["content"] == self.fails:
            raise RuntimeError("worker died")
        async for chunk in super().generate(request):
            yield chunk


async def test_a_stopped_run_keeps_finished_chunks_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(label_run_module, "CHUNK", 2)
    crashing = {"small": FakeEngine(WRONG, refuses=(LONG,)), "large": Broken(RIGHT, fails=SKY)}
    with pytest.raises(RuntimeError, match="worker died"):
        await run(crashing, tmp_path)
    assert [r.prompt for r in read_labels(tmp_path / "labels.gz")] == [CAPITAL, SUM]
    resumed = fleet()
    assert await run(resumed, tmp_path) == [CAPITAL, SUM, SKY, ADD]
    # The first chunk is done, and so is small's part of the second (small answers first);
    # large's part of the second was lost with the crash, and the third was never started.
    answered_again = {r.request_id for e in resumed.values() for r in e.requests}
    assert f"label-{CAPITAL.id}" not in answered_again
    assert len(resumed["large"].requests) == 3  # SKY and ADD, then LONG in the last chunk
    assert len(resumed["small"].requests) == 1  # LONG only


async def test_grade_only_regrades_the_checkpoint_without_any_engine(tmp_path: Path) -> None:
    checkpoint, out = tmp_path / "ckpt.jsonl", tmp_path / "labels.gz"
    await label_run(
        PROMPTS, {"small": FakeEngine(WRONG), "large": FakeEngine(RIGHT)}, checkpoint, out
    )
    # A grader that was wrong at label time: the checkpoint says every answer failed.
    rows = [json.loads(line) for line in checkpoint.read_text().splitlines()]
    for row in rows:
        row["answer"]["correct"] = False
    checkpoint.write_text("".join(json.dumps(row) + "\n" for row in rows))

    records = await grade_only(PROMPTS, ["small", "large"], checkpoint, out)

    assert [r.prompt.id for r in records] == [p.id for p in PROMPTS]
    assert all(r.correct("large") for r in records)
    # Only LONG's answer ("x") is right for the small model too.
    assert [r.prompt for r in records if r.correct("small")] == [LONG]
    assert [r.prompt.id for r in read_labels(out)] == [r.prompt.id for r in records]
    regraded = read_checkpoint(checkpoint)  # rewritten with today's grades
    assert all(regraded[(p.id, "large")].answer.correct for p in PROMPTS)
