"""A few numbers about the shape of a prompt that say what kind of task it is, whatever
package or app it comes from: code, arithmetic, options to choose from, other scripts.

They sit beside the token-embedding mean (``encoders.StaticEncoder``), which carries the
topic but averages away structure: a Python function and an essay about Python look
alike to it, while the share of code punctuation does not. Each feature is scaled to
about [0, 1]; all are cheap regex counts over the routing text.
"""

import math
import re

import numpy as np
from numpy.typing import NDArray

_CODE_WORDS = re.compile(
    r"\b(?:def|return|import|class|function|const|var|let|SELECT|FROM|WHERE|print|elif|"
    r"lambda|public|void|int|struct)\b"
)
_CODE_PUNCTUATION = re.compile(r"[{}();=<>\[\]]|==|!=|->|=>|::")
_FENCE = re.compile(r"```")
_OPTION_LINE = re.compile(r"^\s*\(?[A-Ha-h1-8][).:]\s+\S", re.MULTILINE)
# The operators include the multiplication and division signs (U+00D7, U+00F7).
_ARITHMETIC = re.compile("\\d\\s*[-+*/^\u00d7\u00f7=%]\\s*\\d")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_CAPITAL = re.compile(r"[A-Z]")

FEATURES: tuple[str, ...] = (
    "log_chars",
    "digit_share",
    "code_words",
    "code_punctuation",
    "fenced_code",
    "option_lines",
    "arithmetic",
    "numbers",
    "questions",
    "lines",
    "non_ascii_share",
    "upper_share",
)


def shape_features(text: str, length: int) -> NDArray[np.float32]:
    """Features of ``text`` (a long prompt's ends, see ``encoders``); ``length`` is the
    whole prompt's length in characters."""
    chars = max(len(text), 1)
    words = max(len(_WORD.findall(text)), 1)
    values = (
        math.log1p(length) / 10.0,
        _DIGIT.subn("", text)[1] / chars,
        min(1.0, 5.0 * len(_CODE_WORDS.findall(text)) / words),
        min(1.0, 2.0 * len(_CODE_PUNCTUATION.findall(text)) / words),
        1.0 if _FENCE.search(text) else 0.0,
        min(1.0, len(_OPTION_LINE.findall(text)) / 4.0),
        min(1.0, len(_ARITHMETIC.findall(text)) / 3.0),
        math.log1p(len(_NUMBER.findall(text))) / 4.0,
        min(1.0, text.count("?") / 3.0),
        math.log1p(text.count("\n")) / 5.0,
        (len(text) - len(text.encode("ascii", "ignore"))) / chars,
        _CAPITAL.subn("", text)[1] / chars,
    )
    return np.array(values, dtype=np.float32)
