"""Greedy CTC decoding: argmax per frame, merge repeats, drop blanks (class 0)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TokenPath:
    """One utterance's decoded units: ``tokens[i]`` first emitted at frame ``frames[i]``."""

    tokens: list[int]
    frames: list[int]
    words: list[str] | None = None  # set by a lexicon decoder (words it spelled), else None


def greedy_decode(logits: torch.Tensor, lengths: torch.Tensor | None = None) -> list[TokenPath]:
    """
    Args:
        logits: ``(batch, frames, classes)`` scores or log-probabilities.
        lengths: ``(batch,)`` valid frames; None means all.

    The whole batch is decided on the device; one transfer brings the kept units back.
    """
    B, T, _ = logits.shape
    best = logits.argmax(-1)  # (B, T)
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=-1)
    valid = torch.ones_like(best, dtype=torch.bool) if lengths is None else (
        torch.arange(T, device=best.device)[None, :] < lengths.to(best.device)[:, None]
    )
    keep = (best != previous) & (best != 0) & valid  # (B, T)
    counts = keep.sum(1).tolist()
    batch_index, frame_index = keep.nonzero(as_tuple=True)
    tokens = best[batch_index, frame_index].tolist()
    frames = frame_index.tolist()
    paths, offset = [], 0
    for n in counts:
        paths.append(TokenPath(tokens[offset : offset + n], frames[offset : offset + n]))
        offset += n
    return paths
