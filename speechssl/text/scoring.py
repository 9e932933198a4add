"""Word and character error counts (jiwer), summable over utterances, ranks and validations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ErrorCounts:
    word_errors: int
    words: int
    char_errors: int
    chars: int

    @property
    def wer(self) -> float:
        return self.word_errors / max(self.words, 1)

    @property
    def cer(self) -> float:
        return self.char_errors / max(self.chars, 1)


def error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Edit operations (substitutions + deletions + insertions) against the reference length.
    Characters include the spaces between words (jiwer's CER)."""
    import jiwer

    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return ErrorCounts(len(hyp.split()), 0, len(hyp), 0)
    words = jiwer.process_words(ref, hyp if hyp else "")
    chars = jiwer.process_characters(ref, hyp if hyp else "")
    return ErrorCounts(
        words.substitutions + words.deletions + words.insertions,
        len(ref.split()),
        chars.substitutions + chars.deletions + chars.insertions,
        len(ref),
    )
