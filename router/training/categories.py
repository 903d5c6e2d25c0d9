"""Task categories for training labels.

The source packages label prompts only by task (an evals folder, a BIG-bench task with
its keywords), so each task is given a category from words in its name and description
or keywords (first matching row wins). This
labels the *training data*; at run time the category comes from the learned model,
which never sees these words as rules.
"""

CATEGORIES: tuple[str, ...] = (
    "code",
    "math",
    "logic",
    "string",
    "language",
    "extraction",
    "classification",
    "knowledge",
)

# Words looked for in an eval's name and description, per category; the first category
# with a match wins ("code" before "math", so "bitwise" is code). "knowledge" is the rest.
_WORDS = {
    "code": (
        "code python sql regex json css csharp linq crontab syntax grammar-to-regex "
        "protocol-buffers patch coq forth bitwise pointer automata shell smiles"
    ),
    "math": (
        "math arithmetic algebra equation calcul number numeral probabilit determinant "
        "matri geometry triangle sequence series aime jee recurrence remainder finance "
        "tax dose ohm stats count sort-numeric binary hex decimal discount options "
        "black-scholes polynomial area rectangles squares date day-of-week time-zone calendar "
        "physics ph_"
    ),
    "logic": (
        "logic reasoning puzzle riddle deduct causal chess maze track shuffled seating "
        "direction orientation movement rotation game backgammon connect-4 tetris gol "
        "blocks raven pattern inheritance kinship poker mahjong rubiks dice gears "
        "corr2cause conclusion"
    ),
    "string": (
        "reverse anagram cipher caesar vigenere rot13 base64 letter bigram swap-words "
        "replace first-letters last-word ascii decode svg invert naughty"
    ),
    "language": (
        "lexicon rhyme grammar syllable translation spelling homonym homophon antonym "
        "synonym proverb part-of-speech pronunciation phonetic romanization orthography "
        "plural korean japanese chinese belarusian hebrew russian polish dutch french "
        "italian irish norwegian finnish urdu hindi nepali greek latin sarcasm irony gec "
        "proofread word sentence kana kanji idiom"
    ),
    "extraction": (
        "extract ner_ invoice matching parsing product list_comparison monthly_metric "
        "resource_id -ie"
    ),
    "classification": (
        "classif detection banking77 mrpc bias utility sentiment toxic emotion intent "
        "spam stance entailment fact_checker"
    ),
}
_KEYWORDS = tuple((category, tuple(words.split())) for category, words in _WORDS.items())


def category_of(name: str, description: str) -> str:
    text = f"{name} {description}".lower()
    for category, words in _KEYWORDS:
        if any(word in text for word in words):
            return category
    return "knowledge"
