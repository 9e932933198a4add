"""CTC beam search with an optional KenLM n-gram LM and lexicon (flashlight-text via torchaudio).

A word-level n-gram LM needs a lexicon (flashlight scores an LM over lexicon words); when an LM
is given without one, the lexicon is built from the LM's own unigrams, spelled by the model's
tokenizer. Without an LM the search is lexicon-free.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
from pathlib import Path

import torch

from speechssl.decoding.greedy import TokenPath

log = logging.getLogger(__name__)
ARPA_SPECIAL_WORDS = {"<s>", "</s>", "<unk>"}


def arpa_unigrams(path: str | os.PathLike) -> list[str]:
    """Words of an ARPA LM's ``\\1-grams:`` section (plain or .gz)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    words, inside = [], False
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and line.startswith("\\"):
                break
            elif inside and line:
                fields = line.split()
                if len(fields) >= 2 and fields[1] not in ARPA_SPECIAL_WORDS:
                    words.append(fields[1])
    if not words:
        raise ValueError(f"{path}: no unigrams found; a lexicon must be given for a binary KenLM model")
    return words


def write_lexicon(words: list[str], tokenizer, path: str | os.PathLike) -> int:
    """``word<TAB>t o k e n s [|]`` lines for the words the tokenizer can spell; returns the count."""
    known = set(tokenizer.tokens)
    boundary = " " + tokenizer.word_boundary if getattr(tokenizer, "word_boundary", None) else ""
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        for word in dict.fromkeys(words):
            spelling = tokenizer.spell(tokenizer.normalizer(word))
            if spelling and all(t in known for t in spelling):
                f.write(f"{word}\t{' '.join(spelling)}{boundary}\n")
                written += 1
    return written


class BeamSearchDecoder:
    """Flashlight beam search over ``(batch, frames, classes)`` log-probabilities.

    Args:
        tokenizer: the model's tokenizer (its tokens name the classes; class 0 is the blank).
        lm: KenLM model path (ARPA, optionally .gz, or binary), or None.
        lexicon: lexicon file (``word<TAB>spelling``); built from the LM when None and an LM is given.
        beam_size, lm_weight, word_score, beam_threshold: flashlight's search settings.
    """

    def __init__(
        self,
        tokenizer,
        lm: str | os.PathLike | None = None,
        lexicon: str | os.PathLike | None = None,
        *,
        beam_size: int = 50,
        lm_weight: float = 2.0,
        word_score: float = 0.0,
        beam_threshold: float = 50.0,
    ):
        from torchaudio.models.decoder import ctc_decoder

        self.tokenizer = tokenizer
        self._tmp = None
        if lm is not None and lexicon is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="speechssl-lexicon-")
            lexicon = Path(self._tmp.name) / "lexicon.txt"
            n = write_lexicon(arpa_unigrams(lm), tokenizer, lexicon)
            log.info("lexicon of %d words built from the LM's unigrams", n)
        self.uses_lexicon = lexicon is not None
        self.decoder = ctc_decoder(
            lexicon=str(lexicon) if lexicon is not None else None,
            tokens=list(tokenizer.tokens),
            lm=str(lm) if lm is not None else None,
            beam_size=beam_size,
            beam_threshold=beam_threshold,
            lm_weight=lm_weight if lm is not None else 0.0,
            word_score=word_score,
            blank_token=tokenizer.blank_token,
            sil_token=tokenizer.silence_token,
            unk_word="<unk>",
        )

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor | None = None) -> list[TokenPath]:
        """log_probs: ``(batch, frames, classes)``; lengths: ``(batch,)`` valid frames."""
        emissions = log_probs.detach().float().cpu().contiguous()
        if lengths is not None:
            lengths = lengths.to("cpu", torch.int32)
        paths = []
        for hyps in self.decoder(emissions, lengths):
            if not hyps:
                paths.append(TokenPath([], [], [] if self.uses_lexicon else None))
                continue
            best = hyps[0]
            paths.append(TokenPath(best.tokens.tolist(), best.timesteps.tolist(), list(best.words) if self.uses_lexicon else None))
        return paths


def make_decoder(tokenizer, kind: str = "greedy", **beam_options):
    """``greedy`` -> :func:`greedy_decode`; ``beam`` -> a :class:`BeamSearchDecoder` (options:
    lm, lexicon, beam_size, lm_weight, word_score, beam_threshold)."""
    from speechssl.decoding.greedy import greedy_decode

    if kind == "greedy":
        if beam_options.get("lm") or beam_options.get("lexicon"):
            raise ValueError("an LM or lexicon needs the beam decoder (--decoder beam)")
        return greedy_decode
    if kind == "beam":
        return BeamSearchDecoder(tokenizer, **beam_options)
    raise ValueError(f"unknown decoder {kind!r}: greedy or beam")
