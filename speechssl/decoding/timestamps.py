"""Word times from CTC output: spike frames of the decoded units, or a forced alignment of the
final transcript against the emissions (tighter word ends, since CTC spikes are one frame)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from speechssl.decoding.greedy import TokenPath


@dataclass
class Word:
    text: str
    start: float  # seconds
    end: float  # seconds
    confidence: float  # mean posterior of the word's units over their frames, 0..1

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class FrameGrid:
    """Frame index -> seconds: where frame t's receptive field starts (``t * stride`` samples).

    transformers' word offsets and torchaudio's alignment tutorials use the same convention;
    measured on synthetic speech it also sits closer to the true word starts than the
    receptive field's centre (docs/recognition.md)."""

    stride: int
    sample_rate: int

    def time(self, frame: float) -> float:
        return frame * self.stride / self.sample_rate


def token_spans(log_probs: torch.Tensor, tokens: list[int]) -> list[tuple[int, int, float]] | None:
    """Viterbi CTC alignment of ``tokens`` to ``log_probs`` ``(frames, classes)``.

    Returns one ``(first frame, end frame, mean posterior)`` per token, or None when the
    transcript cannot fit the frames (CTC needs a frame per unit plus one per repeat).
    """
    import torchaudio.functional as AF

    if not tokens:
        return []
    repeats = sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)
    if len(tokens) + repeats > log_probs.shape[0]:
        return None
    targets = torch.tensor([tokens], dtype=torch.int32)
    alignment, scores = AF.forced_align(log_probs[None].float().cpu(), targets, blank=0)
    spans = AF.merge_tokens(alignment[0], scores[0].exp())
    return [(s.start, s.end, float(s.score)) for s in spans]


def spike_spans(log_probs: torch.Tensor, path: TokenPath) -> list[tuple[int, int, float]]:
    """Spans from decoded spikes: a unit lasts from its spike while it stays the argmax
    (at most up to the next unit's spike)."""
    best = log_probs.argmax(-1).tolist()  # one pass over the frames, not one per frame
    probs = log_probs.float().exp()
    ends = path.frames[1:] + [log_probs.shape[0]]
    spans = []
    for token, start, end in zip(path.tokens, path.frames, ends):
        stop = start + 1
        while stop < end and best[stop] == token:
            stop += 1
        spans.append((start, stop, float(probs[start:stop, token].mean())))
    return spans


def words_from_spans(tokenizer, tokens: list[int], spans: list[tuple[int, int, float]], grid: FrameGrid) -> list[Word]:
    words = []
    for text, positions in tokenizer.words(tokens):
        first, last = spans[positions[0]], spans[positions[-1]]
        confidence = sum(spans[p][2] for p in positions) / len(positions)
        words.append(Word(text, grid.time(first[0]), grid.time(last[1]), confidence if math.isfinite(confidence) else 0.0))
    return words
