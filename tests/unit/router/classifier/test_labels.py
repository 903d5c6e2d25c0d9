"""Label generation on the real small model: answers, grades, the file round trip."""

from pathlib import Path

import pytest

from router.classifier.labels import Answer, answer_all, label, read_labels, write_labels
from router.classifier.sources import GradablePrompt
from tests.builders import load_smol_engine

PROMPTS = [
    GradablePrompt("capitals", "knowledge", ({"role": "user", "content": "Capital of France?"},),
                   ("Paris",)),
    GradablePrompt("nonsense", "knowledge", ({"role": "user", "content": "Say hello."},),
                   ("zyxwvut",)),
]  # fmt: skip


@pytest.mark.slow
async def test_answers_come_from_the_engine_and_are_graded(smol_model_dir: Path) -> None:
    engine = load_smol_engine(smol_model_dir, max_output_tokens=64)
    try:
        answers = await answer_all(engine, PROMPTS)
    finally:
        engine.close()
    assert all(a.text and a.prompt_tokens > 5 for a in answers)
    records = label(PROMPTS, answers, answers)
    assert records[0].small_correct == ("paris" in answers[0].text.lower())
    assert not records[1].small_correct and not records[1].large_correct
    assert records[1].small_suffices  # neither is right: the small one is as good


def test_a_refused_prompt_is_not_labelled_and_files_round_trip(tmp_path: Path) -> None:
    good, refused = Answer("Paris", 12), Answer("", 0)
    records = label(PROMPTS, [good, good], [good, refused])
    assert [r.task for r in records] == ["capitals"]
    path = tmp_path / "labels.jsonl.gz"
    write_labels(path, records)
    first = path.read_bytes()
    assert read_labels(path) == records
    write_labels(path, records)
    assert path.read_bytes() == first  # same labels, same bytes
