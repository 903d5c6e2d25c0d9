"""A small label set where the label is learnable from the text: only the large model
answers arithmetic, both answer greetings and capital-city questions. Each template is
one task, so a held-out task is a phrasing the classifier never saw."""

import random

from router.classifier.labels import LabelledPrompt

_ARITHMETIC = (
    "What is {a} + {b}?",
    "Compute {a} times {b}.",
    "Calculate {a} - {b} and give only the number.",
    "Solve: {a} * {b} + {c} = ?",
    "Divide {a} by {c} and round to two decimals.",
    "What is the sum of {a}, {b} and {c}?",
    "Multiply {a} by {c}, then subtract {b}.",
    "Evaluate the expression ({a} + {b}) * {c}.",
)
_GREETINGS = (
    "Hello! How are you today, {name}?",
    "Hi {name}, nice to meet you.",
    "Good morning {name}! Say hello back.",
    "Hey there, it's {name}. What's up?",
    "Greet {name} warmly in one sentence.",
    "Thanks {name}, have a lovely day!",
    "Say goodbye to {name} politely.",
    "Wish {name} a happy birthday.",
)
_CAPITALS = (
    "What is the capital of {country}?",
    "Name the capital city of {country}.",
    "Which city is the seat of government of {country}?",
    "{country}'s capital is called what?",
    "Tell me the capital of {country} in one word.",
    "Capital of {country}?",
)
_NAMES = ("Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Edsger", "Margaret")
_COUNTRIES = ("France", "Peru", "Japan", "Kenya", "Norway", "Chile", "Egypt", "Canada")
PER_TASK = 4


def synthetic_records(seed: int = 0) -> list[LabelledPrompt]:
    rng = random.Random(seed)
    records = []
    for kind, templates, category, small_ok, large_ok in (
        ("arithmetic", _ARITHMETIC, "math", False, True),
        ("greeting", _GREETINGS, "language", True, True),
        ("capital", _CAPITALS, "knowledge", True, True),
    ):
        for t, template in enumerate(templates):
            for _ in range(PER_TASK):
                text = template.format(
                    a=rng.randint(100, 999),
                    b=rng.randint(100, 999),
                    c=rng.randint(2, 99),
                    name=rng.choice(_NAMES),
                    country=rng.choice(_COUNTRIES),
                )
                records.append(_record(f"{kind}-{t}", category, text, small_ok, large_ok))
    return records


def _record(task: str, category: str, text: str, small_ok: bool, large_ok: bool) -> LabelledPrompt:
    messages = ({"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text})
    return LabelledPrompt(
        task=task,
        category=category,
        messages=messages,
        ideals=("x",),
        prompt_tokens=len(text.split()) + 3,
        small_answer="x" if small_ok else "?",
        large_answer="x" if large_ok else "?",
        small_correct=small_ok,
        large_correct=large_ok,
    )
