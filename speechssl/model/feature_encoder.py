"""Convolutional feature encoder: raw waveform -> ~49 Hz feature frames, with lengths.

Padding never changes a valid frame: each conv output frame inside the valid length only sees
valid samples, and the one norm that pools over time (the "group" norm after conv 0, a
per-channel instance norm) takes its statistics over valid frames only. This is what makes a
padded batch of a group-norm BASE model equal to running each utterance alone, which fairseq,
transformers and torchaudio do not give (peers.md §3.4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.config import ConvSpec, FeatureEncoderConfig


def conv_output_lengths(lengths: torch.Tensor, conv_layers: ConvSpec) -> torch.Tensor:
    """Valid output frames per utterance: ``floor((L - k) / s) + 1`` per layer, never below 0."""
    for _, kernel, stride in conv_layers:
        lengths = (torch.div(lengths - kernel, stride, rounding_mode="floor") + 1).clamp(min=0)
    return lengths


def conv_output_length(num_samples: int, conv_layers: ConvSpec) -> int:
    """The same as :func:`conv_output_lengths` for one Python int (static shapes)."""
    for _, kernel, stride in conv_layers:
        num_samples = max((num_samples - kernel) // stride + 1, 0)
    return num_samples


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool, True on padded positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


class NormStats(NamedTuple):
    mean: torch.Tensor  # (C,) for every row, or (B, C) per row
    var: torch.Tensor  # (C,) or (B, C)


def masked_norm_stats(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row and channel mean and variance of ``x`` ``(B, C, T)`` over the frames where ``valid``
    ``(B, 1, T)`` is 1 -> ``(B, C, 1)`` each. One masked copy, then two reductions: this runs on
    the largest activation of the model (conv 0: 512 x S/5), so few passes over it matter."""
    count = valid.sum(-1, keepdim=True).clamp(min=1.0)  # (B, 1, 1)
    masked = x * valid
    mean = masked.sum(-1, keepdim=True) / count  # (B, C, 1)
    mean_sq = torch.linalg.vecdot(masked, masked).unsqueeze(-1) / count
    return mean, (mean_sq - mean.square()).clamp(min=0.0)


def chunked_norm_stats(
    num_samples: int,
    conv: tuple[int, int, int],
    chunk_sums: Callable[[int, int, bool], tuple],
    chunk_frames: int = 16_000,
) -> NormStats:
    """Conv 0's mean and variance over an utterance of ``num_samples``, summed chunk by chunk.

    Args:
        conv: conv 0's ``(channels, kernel, stride)``.
        chunk_sums: ``(first sample, end sample, is last chunk) -> (sum, sum of squares)``, ``(C,)``
            float64 each, of conv 0's output over that slice of the audio (whole frames, no
            padding); the flag lets a runtime free its scratch memory after the last chunk.
        chunk_frames: frames per chunk (memory: one chunk of conv 0's output).
    """
    _, kernel, stride = conv
    frames = (num_samples - kernel) // stride + 1
    total = total_sq = 0.0
    for first in range(0, frames, chunk_frames):
        last = min(first + chunk_frames, frames)
        chunk_sum, chunk_sum_sq = chunk_sums(first * stride, (last - 1) * stride + kernel, last == frames)
        total, total_sq = total + chunk_sum, total_sq + chunk_sum_sq
    mean = total / frames
    return NormStats(mean.float(), (total_sq / frames - mean.square()).clamp(min=0.0).float())


class GradMultiply(torch.autograd.Function):
    """Identity forward; scales the gradient (fairseq's feature_grad_mult)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


class MaskedInstanceNorm(nn.Module):
    """GroupNorm with one group per channel, with statistics over valid frames only, in fp32.

    State-dict compatible with ``nn.GroupNorm(C, C)`` (``weight``, ``bias``).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None, stats: NormStats | None = None) -> torch.Tensor:
        """x: ``(B, C, T)``; valid: ``(B, 1, T)`` float, 1 on valid frames (None: all are); ``stats``: the
        ``(C,)`` (or per row ``(B, C)``) mean and variance to use instead of ``x``'s own (a window of a
        longer utterance)."""
        # This runs on the largest activation of the model (conv 0: 512 x S/5): few passes over
        # it matter more than anything else here. Output: one fused multiply-add.
        xf = x.float()
        if stats is None and valid is None:  # no padding: torch's fused kernel, ~3x fewer passes
            return F.group_norm(xf, xf.shape[1], self.weight, self.bias, self.eps).to(x.dtype)
        if stats is not None:
            mean, var = stats.mean.to(xf).unsqueeze(-1), stats.var.to(xf).unsqueeze(-1)  # (C, 1) or (B, C, 1)
        else:
            mean, var = masked_norm_stats(xf, valid)
        scale = torch.rsqrt(var + self.eps) * self.weight[None, :, None]  # (B, C, 1)
        shift = self.bias[None, :, None] - mean * scale
        return torch.addcmul(shift, xf, scale).to(x.dtype)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over channels of a ``(B, C, T)`` tensor, in fp32 (fairseq Fp32LayerNorm)."""

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None, stats: NormStats | None = None) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, 2).float(), self.normalized_shape, self.weight, self.bias, self.eps)
        return y.transpose(1, 2).to(x.dtype)  # (B, T, C) -> (B, C, T)


class ConvBlock(nn.Module):
    """Conv1d (no padding) -> [norm] -> GELU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, bias: bool, norm: nn.Module | None):
        super().__init__()
        self.spec = ((out_channels, kernel, stride),)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)
        self.norm = norm

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, norm_stats: NormStats | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: ``(B, C_in, S)``, lengths ``(B,)`` -> ``(B, C_out, S')``, ``(B,)``."""
        x = self.conv(x)
        lengths = conv_output_lengths(lengths, self.spec)
        if self.norm is not None:
            valid = None
            # On the CPU, knowing that no row is padded costs nothing (no device sync) and lets
            # the norm use torch's fused kernel; elsewhere (and in a compiled graph, which cannot
            # branch on data) the masked path is always taken.
            if x.device.type != "cpu" or torch.compiler.is_compiling() or bool((lengths < x.shape[-1]).any()):
                valid = (torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]).to(torch.float32)[:, None, :]
            x = self.norm(x, valid, norm_stats)
        return F.gelu(x), lengths


class FeatureEncoder(nn.Module):
    """The conv stack of wav2vec 2.0 (fairseq ConvFeatureExtractionModel)."""

    def __init__(self, cfg: FeatureEncoderConfig):
        super().__init__()
        self.cfg = cfg
        blocks, in_channels = [], 1
        for i, (channels, kernel, stride) in enumerate(cfg.conv_layers):
            if cfg.norm == "layer":
                norm = ChannelLayerNorm(channels)
            elif i == 0:
                norm = MaskedInstanceNorm(channels)
            else:
                norm = None
            blocks.append(ConvBlock(in_channels, channels, kernel, stride, cfg.conv_bias, norm))
            in_channels = channels
        self.conv_layers = nn.ModuleList(blocks)

    @property
    def normalizes_over_time(self) -> bool:
        """Group-norm ("default") stacks normalize conv 0 over each utterance's frames."""
        return self.cfg.norm != "layer"

    @torch.no_grad()
    def utterance_norm_stats(self, waveform: torch.Tensor, chunk_frames: int = 16_000) -> NormStats:
        """Conv 0's per-channel mean and variance over a whole ``(samples,)`` utterance, computed
        chunk by chunk (memory of one chunk): windows of a long utterance normalized with these
        see exactly the conv features of one pass."""
        block = self.conv_layers[0]

        def chunk_sums(start: int, end: int, is_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
            y = block.conv(waveform[start:end][None, None]).float()[0]  # (C, n)
            return y.sum(-1, dtype=torch.float64), (y.double() * y.double()).sum(-1)

        return chunked_norm_stats(waveform.numel(), block.spec[0], chunk_sums, chunk_frames)

    def forward(
        self, waveform: torch.Tensor, lengths: torch.Tensor, norm_stats: NormStats | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            waveform: ``(batch, samples)``, zero-padded past ``lengths``.
            lengths: ``(batch,)`` valid samples.
            norm_stats: conv 0's normalization statistics to use for every row (windows of one
                utterance, see :meth:`utterance_norm_stats`); None: each row's own.

        Returns:
            features ``(batch, frames, channels)`` (padded frames hold garbage; use the lengths),
            frame lengths ``(batch,)``.
        """
        x = waveform.unsqueeze(1)  # (B, S) -> (B, 1, S)
        mult = self.cfg.feature_grad_mult
        if mult > 0:
            for block in self.conv_layers:
                x, lengths = block(x, lengths, norm_stats)
            if mult != 1.0 and torch.is_grad_enabled():
                x = GradMultiply.apply(x, mult)
        else:
            # feature_grad_mult == 0 freezes the conv stack (fine-tuning): no graph at all.
            with torch.no_grad():
                for block in self.conv_layers:
                    x, lengths = block(x, lengths, norm_stats)
        return x.transpose(1, 2), lengths  # (B, C, T) -> (B, T, C)
