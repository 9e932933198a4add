"""CTC tokenizers: characters with a ``|`` word boundary, and sentencepiece units.

Class 0 is always the CTC blank. A tokenizer is saved inside the model directory
(``speechssl.json``, key ``tokenizer``) so a model transcribes on its own.

- :class:`CharTokenizer` reads and writes fairseq's ``dict.ltr.txt`` convention: classes
  ``<s>`` (blank), ``<pad>``, ``</s>``, ``<unk>``, then the symbols; a transcript is encoded as
  its ``.ltr`` line (``HELLO WORLD`` -> ``H E L L O | W O R L D |``).
- :class:`UnitTokenizer` treats each whitespace-separated symbol as one class: phone
  transcripts (``sil dh ax k ae t``), where error rate over "words" is phone error rate.
- :class:`SentencePieceTokenizer` wraps a unigram or BPE model trained on the training
  transcripts; class ``i + 1`` is sentencepiece piece ``i``.
"""

from __future__ import annotations

import base64
import io
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from speechssl.text.normalize import TextNormalizer

FAIRSEQ_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # fairseq Dictionary order; <s> is the CTC blank
WORD_BOUNDARY = "|"


def read_dictionary(path: str | os.PathLike) -> list[str]:
    """fairseq ``dict.ltr.txt`` ("symbol count" lines) -> the full class list incl. specials."""
    symbols = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        symbol = line.rstrip().rsplit(" ", 1)[0] if " " in line.strip() else line.strip()
        if not symbol:
            raise ValueError(f"{path}:{line_no}: empty symbol")
        symbols.append(symbol)
    return FAIRSEQ_SPECIALS + symbols


class _CTCTokenizer:
    """What every tokenizer shares: ``tokens`` names the classes, class 0 is the blank."""

    tokens: list[str]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank_token(self) -> str:
        return self.tokens[0]


class CharTokenizer(_CTCTokenizer):
    kind = "char"

    def __init__(self, tokens: list[str], word_boundary: str = WORD_BOUNDARY, normalizer: TextNormalizer | None = None):
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must be unique")
        if word_boundary not in tokens:
            raise ValueError(f"the word boundary {word_boundary!r} is not among the tokens")
        self.tokens = list(tokens)
        self.word_boundary = word_boundary
        self.normalizer = normalizer or TextNormalizer()
        self.index = {t: i for i, t in enumerate(tokens)}
        self.unk = self.index.get("<unk>", self.index.get("[UNK]"))

    @property
    def silence_token(self) -> str:
        return self.word_boundary

    @classmethod
    def build(cls, texts: Iterable[str], normalizer: TextNormalizer | None = None) -> "CharTokenizer":
        """Symbols of the (normalized) transcripts, most frequent first, after fairseq's specials."""
        normalizer = normalizer or TextNormalizer()
        counts = Counter(c for text in texts for c in normalizer(text).replace(" ", ""))
        symbols = [WORD_BOUNDARY] + [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return cls(FAIRSEQ_SPECIALS + symbols, normalizer=normalizer)

    @classmethod
    def from_fairseq_dict(cls, path: str | os.PathLike, normalizer: TextNormalizer | None = None) -> "CharTokenizer":
        return cls(read_dictionary(path), normalizer=normalizer)

    def spell(self, word: str) -> list[str]:
        """A word's tokens without the boundary (for lexicons)."""
        return list(word)

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in self.normalizer(text).split():
            for char in word:
                index = self.index.get(char, self.unk)
                if index is None:
                    raise ValueError(f"character {char!r} of {text!r} is not in the vocabulary, which has no <unk>")
                ids.append(index)
            ids.append(self.index[self.word_boundary])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Collapsed, blank-free ids -> text (boundaries become spaces, as transformers decodes)."""
        return "".join(" " if t == self.word_boundary else t for t in (self.tokens[i] for i in ids if i != 0)).strip()

    def words(self, ids: list[int]) -> list[tuple[str, list[int]]]:
        """Split collapsed ids into words: ``(word, positions of its tokens in ids)``."""
        words, current = [], []
        for pos, i in enumerate(ids):
            if self.tokens[i] == self.word_boundary:
                if current:
                    words.append(current)
                current = []
            elif i != 0:
                current.append(pos)
        if current:
            words.append(current)
        return [("".join(self.tokens[ids[p]] for p in w), w) for w in words]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": self.tokens, "word_boundary": self.word_boundary,
                "normalizer": self.normalizer.to_dict()}

    def write_fairseq_dict(self, path: str | os.PathLike) -> None:
        """``dict.ltr.txt`` for fairseq (requires the fairseq specials at 0..3)."""
        if self.tokens[:4] != FAIRSEQ_SPECIALS:
            raise ValueError("only a vocabulary that starts with fairseq's specials writes a dict.ltr.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{t} 1\n" for t in self.tokens[4:])


class UnitTokenizer(_CTCTokenizer):
    """Whitespace-separated units (phones): class 0 blank, 1 ``<unk>``, then the units."""

    kind = "unit"

    def __init__(self, tokens: list[str], normalizer: TextNormalizer | None = None):
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must be unique")
        self.tokens = list(tokens)
        self.normalizer = normalizer or TextNormalizer(case="keep", remove_punctuation=False)
        self.index = {t: i for i, t in enumerate(tokens)}
        self.unk = self.index.get("<unk>")

    @property
    def silence_token(self) -> str:
        return self.tokens[0]  # no boundary unit: units are words already

    @classmethod
    def build(cls, texts: Iterable[str], normalizer: TextNormalizer | None = None) -> "UnitTokenizer":
        normalizer = normalizer or TextNormalizer(case="keep", remove_punctuation=False)
        counts = Counter(u for text in texts for u in normalizer(text).split())
        return cls(["<blank>", "<unk>"] + sorted(counts, key=lambda u: (-counts[u], u)), normalizer)

    def spell(self, word: str) -> list[str]:
        return [word]

    def encode(self, text: str) -> list[int]:
        return [self.index.get(u, self.unk) for u in self.normalizer(text).split()]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.tokens[i] for i in ids if i != 0)

    def words(self, ids: list[int]) -> list[tuple[str, list[int]]]:
        return [(self.tokens[i], [pos]) for pos, i in enumerate(ids) if i != 0]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": self.tokens, "normalizer": self.normalizer.to_dict()}


class SentencePieceTokenizer(_CTCTokenizer):
    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, normalizer: TextNormalizer | None = None):
        import sentencepiece

        self.model_proto = model_proto
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.normalizer = normalizer or TextNormalizer()
        self.tokens = ["<blank>"] + [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]

    @property
    def silence_token(self) -> str:
        # Word starts are marked inside pieces (U+2581), so there is no silence unit: the
        # beam search uses the blank in its place.
        return self.tokens[0]

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        vocab_size: int = 256,
        model_type: str = "unigram",
        normalizer: TextNormalizer | None = None,
    ) -> "SentencePieceTokenizer":
        import sentencepiece

        normalizer = normalizer or TextNormalizer()
        sentences = [normalizer(t) for t in texts]
        if not any(sentences):
            raise ValueError("no transcripts to train a sentencepiece model on")
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            bos_id=-1,
            eos_id=-1,
            unk_id=0,
            hard_vocab_limit=False,  # small corpora may not support the requested size
            minloglevel=2,
        )
        return cls(model.getvalue(), normalizer)

    def spell(self, word: str) -> list[str]:
        return self.processor.encode(word, out_type=str)

    def encode(self, text: str) -> list[int]:
        return [i + 1 for i in self.processor.encode(self.normalizer(text))]

    def decode(self, ids: Iterable[int]) -> str:
        return self.processor.decode([i - 1 for i in ids if i != 0])

    def words(self, ids: list[int]) -> list[tuple[str, list[int]]]:
        words: list[list[int]] = []
        for pos, i in enumerate(ids):
            if i == 0:
                continue
            if self.tokens[i].startswith("\u2581") or not words:
                words.append([])
            words[-1].append(pos)
        out = []
        for w in words:
            text = self.processor.decode([ids[p] - 1 for p in w]).strip()
            if text:
                out.append((text, w))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model_proto": base64.b64encode(self.model_proto).decode("ascii"),
                "normalizer": self.normalizer.to_dict()}


Tokenizer = CharTokenizer | UnitTokenizer | SentencePieceTokenizer


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    normalizer = TextNormalizer.from_dict(data.get("normalizer"))
    if data["kind"] == "char":
        return CharTokenizer(data["tokens"], data.get("word_boundary", WORD_BOUNDARY), normalizer)
    if data["kind"] == "unit":
        return UnitTokenizer(data["tokens"], normalizer)
    if data["kind"] == "sentencepiece":
        return SentencePieceTokenizer(base64.b64decode(data["model_proto"]), normalizer)
    raise ValueError(f"unknown tokenizer kind {data['kind']!r}")


def build_tokenizer(
    kind: str, texts: Iterable[str], *, vocab_size: int = 256, model_type: str = "unigram",
    normalizer: TextNormalizer | None = None, dictionary: str | os.PathLike | None = None,
) -> Tokenizer:
    """``char`` (from ``dictionary`` when given, else from the texts), ``unit`` (phones) or ``sentencepiece``."""
    if kind == "char":
        if dictionary:
            return CharTokenizer.from_fairseq_dict(dictionary, normalizer)
        return CharTokenizer.build(texts, normalizer)
    if kind == "unit":
        return UnitTokenizer.build(texts, normalizer)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.build(texts, vocab_size, model_type, normalizer)
    raise ValueError(f"unknown tokenizer {kind!r}: char, unit or sentencepiece")
