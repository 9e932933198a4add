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

# Letters, digits and marks, plus apostrophes between word characters.
_WORD_CHARS = re.compile(r"[^\w\s']|_", re.UNICODE)
_LONE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


@dataclass(frozen=True)
class TextNormalizer:
    case: Literal["upper", "lower", "keep"] = "upper"
    remove_punctuation: bool = True  # keeps apostrophes inside words

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = text.replace("\u2019", "'")  # typographic apostrophe
        if self.remove_punctuation:
            text = _LONE_APOSTROPHE.sub(" ", _WORD_CHARS.sub(" ", text))
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
