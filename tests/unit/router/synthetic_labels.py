"""Synthetic graded labels whose structure a predictor can learn from the text.

Three sources (each with its own house style: system message, framing) hold the same
kinds of task: prompts about code, and general prompts (capitals, translation, poems,
greetings). The small model answers only the general prompts; the large one answers
both, so the large model gains exactly on the code prompts. A source listed in
``flipped`` has the opposite pattern (the large model gains on its general prompts
only), and ``middle=True`` adds a third model that answers every general prompt and
every other code prompt. Each template is one task, so grouped cross-validation holds
out phrasings, and every prompt's routing text is unique.
"""

import random
from collections.abc import Collection, Sequence

from router.training.labels import LabelledPrompt, ModelAnswer
from router.training.sources import GradablePrompt, Reference
from router.training.train import LabelledModels

# The default label fleet's ids and tiers (router/training/data/label-fleet.vllm-cpu.yaml).
SMALL, LARGE = "smollm2-135m", "qwen2.5-coder-0.5b"
MIDDLE = "middle"
TWO_MODELS = LabelledModels((SMALL, LARGE), (1, 2))
THREE_MODELS = LabelledModels((SMALL, MIDDLE, LARGE), (1, 2, 3))
SOURCES = ("alpha", "beta", "gamma")
PER_TASK = 4  # at most 6: fill-ins stay unique within a task

_CODE = (
    "Write a Python function `{fn}(xs: list[int]) -> int` that returns the {thing} of xs.",
    "Fix the bug in this Python code:\n\ndef {fn}(xs):\n    return xs[{n}] + len(xs\n",
    "Implement `def {fn}(s: str) -> str:` in Python so that it reverses every word of s.",
    'Complete the function.\n\ndef {fn}(n: int) -> int:\n    """Return the {thing} of the '
    'integers below {n}."""\n',
    "What does this JavaScript print?\nconsole.log([{n}, {m}].map(x => x * 2).join(','));",
    "Write a SQL query that selects the {thing} of the column `{fn}` from table t{n}.",
)
_GENERAL = (
    "What is the capital of {country}?",
    "Translate the word '{word}' into French.",
    "Write a two-line poem about {word} in {country}.",
    "Greet {name} warmly in one sentence.",
    "Name a famous painter born in {country}.",
    "Which ocean is closest to {country}? Answer with its name.",
)
_FILLS = {
    "fn": ("total", "scan", "fold", "pick", "merge", "count_up", "flatten", "score"),
    "thing": ("sum", "maximum", "minimum", "product", "median", "mean"),
    "country": ("France", "Peru", "Japan", "Kenya", "Norway", "Chile", "Egypt", "Canada"),
    "word": ("river", "garden", "winter", "lantern", "harbour", "orchard", "meadow"),
    "name": ("Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Edsger", "Margaret"),
}
_STYLES = {
    # (system message or "", the user message around the prompt)
    "alpha": ("Answer briefly.", "{prompt}"),
    "beta": ("", "Question: {prompt}\nAnswer:"),
    "gamma": ("You are a careful assistant.", "{prompt}\n\nThink, then reply in one line."),
}


def synthetic_records(
    sources: Sequence[str] = SOURCES,
    *,
    flipped: Collection[str] = (),
    middle: bool = False,
    per_task: int = PER_TASK,
    seed: int = 0,
) -> list[LabelledPrompt]:
    rng = random.Random(seed)
    records = []
    for source in sources:
        for category, templates in (("code", _CODE), ("general", _GENERAL)):
            gains = (category == "code") != (source in flipped)
            for t, template in enumerate(templates):
                task = f"{source}-{category}-{t}"
                # Drawn without replacement: a task's prompts never repeat a fill-in.
                fills = {key: rng.sample(values, len(values)) for key, values in _FILLS.items()}
                for i in range(per_task):
                    text = template.format(
                        n=rng.randint(10, 99) * 10 + i,
                        m=rng.randint(100, 999),
                        **{key: values[i % len(values)] for key, values in fills.items()},
                    )
                    answers = {SMALL: _answer(not gains), LARGE: _answer(True)}
                    if middle:
                        answers[MIDDLE] = _answer(not gains or i % 2 == 0)
                    records.append(_record(source, task, category, text, answers))
    return records


def is_code(record: LabelledPrompt) -> bool:
    return record.category == "code"


def _answer(correct: bool) -> ModelAnswer:
    return ModelAnswer(correct, "ok" if correct else "wrong", 3, "stop")


def _record(
    source: str, task: str, category: str, text: str, answers: dict[str, ModelAnswer]
) -> LabelledPrompt:
    system, framing = _STYLES.get(source, ("", "{prompt}"))
    messages: tuple[dict[str, str], ...] = (
        ({"role": "system", "content": system},) if system else ()
    )
    messages += ({"role": "user", "content": framing.format(prompt=text)},)
    code = category == "code"
    prompt = GradablePrompt(
        source=source,
        task=task,
        category=category,
        grader="code" if code else "match",
        messages=messages,
        reference=Reference(tests="assert True\n") if code else Reference(answers=("ok",)),
    )
    return LabelledPrompt(prompt, len(text.split()) + 5, answers)
