"""Uniform noise keyed per utterance: a counter-based hash instead of a stateful RNG.

When a trainer gives every utterance a key (from the run seed, the update number and the
utterance's index in the corpus), the masks, negatives and Gumbel noise an utterance gets no
longer depend on which batch, micro-batch or rank it landed in. That makes a 2-process run
equal to a 1-process run on the same global batch, and a resumed run equal to an
uninterrupted one, without saving any RNG state. All integer ops wrap in int64 and run on
the keys' device: vectorized, no host sync, compile-friendly.
"""

from __future__ import annotations

import torch

# splitmix64 constants, written as signed int64 (two's complement) so torch accepts them.
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB

# Noise streams: each kind of draw made from an utterance key uses its own.
TIME_MASK_STREAM, CHANNEL_MASK_STREAM, NEGATIVES_STREAM, GUMBEL_STREAM = 0, 2, 4, 5


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic on negative values)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64 finalizer: a bijective, well-mixing map of int64 values."""
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


def combine_keys(*parts: torch.Tensor | int) -> torch.Tensor:
    """Hash several integers (tensors broadcast) into one int64 key."""
    key = torch.as_tensor(0, dtype=torch.long)
    for part in parts:
        part = torch.as_tensor(part, dtype=torch.long)
        key = mix64(key.to(part.device) * _GOLDEN + part)
    return key


def keyed_uniform(row_keys: torch.Tensor, shape: tuple[int, ...], stream: int) -> torch.Tensor:
    """``(B, *shape)`` float32 uniform in [0, 1): element ``i`` of row ``b`` depends only on
    ``(row_keys[b], stream, i)``.

    Args:
        row_keys: ``(B,)`` int64 keys, one per utterance.
        shape: the per-row shape.
        stream: separates independent draws made with the same key (mask, negatives, ...).
    """
    count = 1
    for n in shape:
        count *= n
    counters = torch.arange(count, device=row_keys.device, dtype=torch.long)
    golden: int | torch.Tensor = _GOLDEN
    if torch.compiler.is_compiling():
        # Inductor turns ``arange * constant`` into index arithmetic, which does not wrap like
        # int64 (an OverflowError, or silently wrong bits; torch 2.14). A multiplier read from
        # memory keeps it a wrapping int64 multiply: the same value (``k | -1`` is all ones).
        golden = (row_keys[:1].long() | -1) & _GOLDEN  # (1,)
    base = mix64(row_keys.long() * _GOLDEN + stream)  # (B,)
    bits = mix64(base[:, None] + counters[None, :] * golden)  # (B, count)
    return (_shift_right(bits, 40).to(torch.float32) * (1.0 / (1 << 24))).view(-1, *shape)


def uniform(
    shape: tuple[int, ...],
    *,
    device: torch.device | str | None,
    generator: torch.Generator | None = None,
    row_keys: torch.Tensor | None = None,
    stream: int = 0,
) -> torch.Tensor:
    """Uniform noise of ``shape`` (first dim = batch): keyed per row when ``row_keys`` is given,
    else from ``generator`` (or the global RNG)."""
    if row_keys is not None:
        return keyed_uniform(row_keys.to(device), tuple(shape[1:]), stream)
    if generator is None:  # an explicit generator=None breaks torch.compile(dynamic=True) tracing
        return torch.rand(shape, device=device)
    return torch.rand(shape, device=device, generator=generator)
