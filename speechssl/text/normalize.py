"""Transcript normalization applied before tokenizing, and before scoring WER.

Defaults follow LibriSpeech/fairseq labels: upper case, punctuation removed except the
apostrophe inside words ("DON'T"), digits left as they are (expanding numbers is a
corpus decision, so it is never done implicitly).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Literal

_LONE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def _is_word_char(char: str) -> bool:
    """Letters, digits and combining marks (category M*: accents with no precomposed form,
    Indic vowel signs and viramas), which ``\\w`` alone would strip from their letters."""
    return char.isalnum() or unicodedata.category(char)[0] == "M"


@dataclass(frozen=True)
class TextNormalizer:
    case: Literal["upper", "lower", "keep"] = "upper"
    remove_punctuation: bool = True  # keeps apostrophes inside words

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = text.replace("\u2019", "'")  # typographic apostrophe
        if self.remove_punctuation:
            text = "".join(c if c.isspace() or c == "'" or _is_word_char(c) else " " for c in text)
            text = _LONE_APOSTROPHE.sub(" ", text)
        if self.case == "upper":
            text = text.upper()
        elif self.case == "lower":
            text = text.lower()
        return " ".join(text.split())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TextNormalizer":
        return cls(**(data or {}))
