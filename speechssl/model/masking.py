"""Span masks and contrastive negatives, vectorized on the input's device.

No numpy, no Python loop over the batch, no ``.item()``/host sync, and every output has a
shape known from the input shapes alone, so both functions run inside ``torch.compile(
fullgraph=True)`` and on CUDA without stalls.

Deviation from fairseq, on purpose: fairseq (``require_same_masks=True``) afterwards drops
random masked frames from every row until all rows have the batch's minimum count, so the
targets reshape to ``(B, M, C)``. That fragments the spans of long rows in mixed-length batches
(NeMo#2919) and depends on the batch composition. Here every row keeps its own spans, and the
loss is computed over a ``(B, T)`` mask instead. For a single utterance (and for rows of equal
length, in distribution) the statistics are fairseq's: ~49% of frames masked at p=0.65, M=10.
"""

from __future__ import annotations

import torch

from speechssl.model.keyed_noise import NEGATIVES_STREAM, TIME_MASK_STREAM, uniform


def compute_span_mask(
    shape: tuple[int, int],
    lengths: torch.Tensor | None,
    prob: float,
    span: int,
    min_masks: int = 0,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    row_keys: torch.Tensor | None = None,
    stream: int = TIME_MASK_STREAM,
) -> torch.Tensor:
    """Random spans of ``span`` positions, fairseq ``compute_mask_indices`` semantics (static lengths).

    Per row of valid length ``L``: ``n = max(min_masks, floor(prob * L / span + U[0, 1)))`` span
    starts drawn without replacement from the first ``max(L - span, n + 1)`` positions; each start
    masks ``span`` positions; spans may overlap; nothing at or past ``L`` is masked.

    Args:
        shape: ``(batch, positions)``; positions are frames (time mask) or channels.
        lengths: ``(batch,)`` valid positions per row, or None when every position is valid.
        prob: ``mask_prob`` (expected fraction of positions that *start* a span, times ``span``).
        span: span length M.
        min_masks: minimum number of span starts per row.
        generator: the RNG to draw from (default: the global one), unless ``row_keys`` is given.
        row_keys: ``(batch,)`` int64 utterance keys: each row's mask then depends only on its
            key and length (see :mod:`speechssl.model.keyed_noise`).
        stream: noise stream for keyed draws (uses ``stream`` and ``stream + 1``).

    Returns:
        ``(batch, positions)`` bool, True where masked.
    """
    B, T = shape
    if lengths is None:
        lengths = torch.full((B,), T, device=device, dtype=torch.long)
    if prob <= 0.0 and min_masks <= 0:
        return torch.zeros(B, T, dtype=torch.bool, device=lengths.device)
    starts = span_starts(shape, lengths, prob, span, min_masks, generator=generator, row_keys=row_keys, stream=stream)
    return spans_to_mask(starts, span, lengths)


def span_starts(
    shape: tuple[int, int],
    lengths: torch.Tensor,
    prob: float,
    span: int,
    min_masks: int,
    *,
    generator: torch.Generator | None = None,
    row_keys: torch.Tensor | None = None,
    stream: int = TIME_MASK_STREAM,
) -> torch.Tensor:
    """``(batch, positions)`` bool: where spans start (see :func:`compute_span_mask`)."""
    B, T = shape
    device, lengths = lengths.device, lengths.long()
    positions = torch.arange(T, device=device)
    # Probabilistic rounding of the expected number of starts (fairseq: int(p*L/M + rand)).
    rounding = uniform((B,), device=device, generator=generator, row_keys=row_keys, stream=stream)
    num_spans = torch.floor(prob * lengths / span + rounding).long()
    num_spans = num_spans.clamp(min=min_masks)
    # Starts come from [0, L - span), widened to n + 1 candidates for short rows (as fairseq).
    num_candidates = torch.maximum(lengths - span, num_spans + 1)
    # Choice without replacement = the n smallest of i.i.d. uniform keys among the candidates.
    keys = uniform((B, T), device=device, generator=generator, row_keys=row_keys, stream=stream + 1)
    keys = keys.masked_fill(positions[None, :] >= num_candidates[:, None], 2.0)
    # Only the n smallest keys matter, and n has a static bound (lengths <= T), so a partial
    # sort of that many replaces a full argsort of T: the same choice, far less work.
    bound = min(T, max(min_masks, int(prob * T / span) + 2))  # +2: float rounding of p * L / M
    order = keys.topk(bound, dim=1, largest=False, sorted=True).indices  # (B, bound)
    chosen = torch.arange(bound, device=device)[None, :] < num_spans[:, None]  # the first n of each row
    return torch.zeros(B, T, dtype=torch.bool, device=device).scatter(1, order, chosen)


def spans_to_mask(starts: torch.Tensor, span: int, lengths: torch.Tensor) -> torch.Tensor:
    """Expand ``(B, T)`` span starts to a mask: t is masked iff a span starts in ``(t - span, t]``."""
    T = starts.shape[1]
    started = starts.long().cumsum(1)
    before = torch.nn.functional.pad(started, (span, 0))[:, :T]  # started[t - span], 0 when t < span
    valid = torch.arange(T, device=starts.device)[None, :] < lengths[:, None]
    return (started - before > 0) & valid


def sample_negatives(
    mask: torch.Tensor,
    num_negatives: int,
    *,
    generator: torch.Generator | None = None,
    row_keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """K distractor frames per frame, uniform over the *other* masked frames of the same utterance.

    fairseq semantics (``sample_negatives``, no cross-sample negatives): draws are with
    replacement from the ``n - 1`` other masked frames, so a frame is never its own negative and
    padding (never masked) is never drawn. Rows of unmasked frames are filled too (with valid
    masked indices) but carry no meaning; the loss ignores them. An utterance with fewer than two
    masked frames can only draw its target; the loss then masks that logit like any negative
    identical to its positive.

    Args:
        mask: ``(batch, frames)`` bool time mask.
        num_negatives: K.
        generator, row_keys: the noise source, as for :func:`compute_span_mask`.

    Returns:
        ``(batch, frames, K)`` long frame indices into the same utterance.
    """
    B, T = mask.shape
    K = num_negatives
    count = mask.sum(1)  # (B,) masked frames per utterance
    # index of each masked frame among its row's masked frames; float32 is exact below 2^24 frames
    rank = (mask.long().cumsum(1) - 1).float()[..., None]  # (B, T, 1)
    # Masked frames first, in time order: pool[b, j] is the frame of the j-th masked frame.
    pool = torch.argsort((~mask).to(torch.int32), dim=1, stable=True)
    others = (count - 1).clamp(min=1).float()[:, None, None]  # (B, 1, 1)
    # The (B, T, K) draws dominate the cost, so they stay one float32 buffer updated in place and
    # become int64 only once, for the gather.
    draws = uniform((B, T, K), device=mask.device, generator=generator, row_keys=row_keys, stream=NEGATIVES_STREAM)
    draws.mul_(others).floor_()
    torch.minimum(draws, others - 1, out=draws)  # guard the float rounding at the top of [0, 1)
    draws.add_(draws >= rank)  # skip the target itself
    torch.minimum(draws, (count - 1).clamp(min=0).float()[:, None, None], out=draws)
    return pool.gather(1, draws.view(B, T * K).long()).view(B, T, K)
