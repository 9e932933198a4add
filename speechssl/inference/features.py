"""Speech features from any layer, for any length of audio.

Layer names (the table in docs/features.md maps them to transformers, torchaudio and s3prl):

- ``conv``: the conv encoder output after its LayerNorm (what the quantizer sees; ``C`` dims);
- ``0``: the transformer input (features + positional conv, + LayerNorm for post-LN models);
- ``1`` .. ``L``: the raw output of transformer layer n;
- ``final``: the model's final output (for pre-LN models, ``L`` after the final LayerNorm).

``all`` selects ``0`` .. ``L`` (the ``L + 1`` states transformers and s3prl return).

Audio longer than ``window_seconds`` runs in windows with ``overlap_seconds`` of shared
context; each frame is taken from the window where it sits farthest from an edge. Frames of
every window fall on the same 20 ms grid, and group-norm models normalize every window with
the whole utterance's conv statistics, so the conv features are those of one pass; transformer
layers see less context than in one pass: docs/features.md gives the measured difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from speechssl.audio import SAMPLE_RATE, normalize_waveform, pad_waveforms
from speechssl.inference.backend import as_backend, check_layers, encoder_of  # noqa: F401 (encoder_of: imported from here too)


@dataclass
class Features:
    """Features of one utterance."""

    layers: dict[str, torch.Tensor]  # name -> (T, D), or (D,) when mean-pooled
    frame_times: torch.Tensor  # (T,) seconds: the centre of each frame's receptive field
    frame_rate: float  # frames per second (50 for wav2vec 2.0)


def parse_layers(spec: str | list | tuple, num_layers: int) -> list[str]:
    """``"all"``, ``"conv"``, ``"final"``, ``"6"``, ``"-1"`` (= L), ``"2-5"`` or comma-separated mixes."""
    items = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    names: list[str] = []
    for item in (str(i).strip() for i in items):
        if item == "all":
            names += [str(n) for n in range(num_layers + 1)]
        elif item in ("conv", "final"):
            names.append(item)
        elif "-" in item.lstrip("-"):
            low, high = (int(x) for x in item.split("-", 1))
            names += [str(n) for n in range(low, high + 1)]
        else:
            try:
                n = int(item)
            except ValueError:
                raise ValueError(f"unknown layer {item!r}: use conv, final, all, an index or a range like 2-5") from None
            names.append(str(num_layers + 1 + n if n < 0 else n))
    for name in names:
        if name not in ("conv", "final") and not 0 <= int(name) <= num_layers:
            raise ValueError(f"layer {name} is outside 0..{num_layers} (this model has {num_layers} transformer layers)")
    return list(dict.fromkeys(names))  # keep order, drop repeats


@torch.no_grad()
def encode_batch(
    model, waveforms: list[torch.Tensor], names: list[str], normalize: bool | None = None, norm_stats=None
) -> list[dict[str, torch.Tensor]]:
    """One padded forward pass over several utterances -> per utterance ``{name: (T, D)}``.

    ``model``: a speechssl model or an inference backend (see :mod:`speechssl.inference.backend`).
    ``normalize`` (default: the model's ``normalize_waveform``) normalizes each utterance;
    ``norm_stats`` are conv statistics shared by windows of one utterance.
    """
    backend = as_backend(model)
    batch, lengths = pad_waveforms(waveforms)
    if backend.cfg.normalize_waveform if normalize is None else normalize:
        batch = normalize_waveform(batch, lengths)
    picked, frame_lengths = backend.run(batch, lengths, names, norm_stats)
    return [{k: v[i, : frame_lengths[i]].float().cpu() for k, v in picked.items()} for i in range(len(waveforms))]


def frame_times(num_frames: int, stride: int, receptive_field: int) -> torch.Tensor:
    return (torch.arange(num_frames) * stride + receptive_field / 2) / SAMPLE_RATE


@torch.no_grad()
def extract_features(
    model,
    audio: torch.Tensor,
    layers: str | list = "all",
    *,
    pool: str | None = None,
    window_seconds: float | None = 30.0,
    overlap_seconds: float = 5.0,
    windows_per_batch: int = 2,
) -> Features:
    """Features of one utterance (``(samples,)`` float32 at 16 kHz).

    Args:
        model: a speechssl model, or an inference backend (an exported ``.onnx``:
            :class:`~speechssl.inference.onnx_runtime.OnnxBackend`).
        layers: see :func:`parse_layers`.
        pool: ``"mean"`` averages over frames.
        window_seconds: longer audio runs in windows of this length (None: one pass, any length).
        overlap_seconds: context shared by neighbouring windows.
        windows_per_batch: windows per forward pass (memory is bounded by this x the window).
    """
    backend = as_backend(model)
    cfg = backend.cfg.feature_encoder
    names = parse_layers(layers, backend.cfg.transformer.num_layers)
    check_layers(backend, names)
    if audio.dim() != 1:
        raise ValueError(f"audio must be (samples,), got shape {tuple(audio.shape)}")
    if backend.cfg.normalize_waveform:
        audio = normalize_waveform(audio)  # over the whole utterance, as one pass would, not per window
    if window_seconds is None or audio.numel() <= window_seconds * SAMPLE_RATE:
        values = encode_batch(backend, [audio], names, normalize=False)[0]
    else:
        stats = backend.utterance_norm_stats(audio)
        values = stitch_windows(
            lambda waves: encode_batch(backend, waves, names, normalize=False, norm_stats=stats),
            audio, cfg, window_seconds, overlap_seconds, windows_per_batch,
        )
    times = frame_times(next(iter(values.values())).shape[0], cfg.stride, cfg.receptive_field)
    return pooled(Features(values, times, SAMPLE_RATE / cfg.stride), pool)


def pooled(features: Features, pool: str | None) -> Features:
    """``pool="mean"`` averages every layer over frames; None leaves the features as they are."""
    if pool is None:
        return features
    if pool != "mean":
        raise ValueError(f"unknown pooling {pool!r} (only 'mean')")
    return Features({k: v.mean(0) for k, v in features.layers.items()}, features.frame_times, features.frame_rate)


def window_plan(num_samples: int, window: int, overlap: int, stride: int, receptive_field: int) -> list[tuple[int, int, int, int]]:
    """Windows as ``(start sample, end sample, first kept frame, end kept frame)``, frames global.

    Starts are multiples of the stride, so window frame j is global frame ``start / stride + j``;
    the last window ends at the last sample (starting earlier to stay full length). Between
    two windows, the frames they share are split at their middle.
    """
    hop = window - overlap
    starts = list(range(0, max(num_samples - window, 0) + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append((num_samples - window) // stride * stride)
    spans = []
    for start in starts:
        end = min(start + window, num_samples)
        frames = (end - start - receptive_field) // stride + 1
        spans.append((start, end, start // stride, start // stride + frames))
    plan, keep_from = [], 0
    for i, (start, end, first, last) in enumerate(spans):
        keep_to = last if i == len(spans) - 1 else (spans[i + 1][2] + last) // 2
        plan.append((start, end, keep_from, keep_to))
        keep_from = keep_to
    return plan


def stitch_windows(
    encode: Callable[[list[torch.Tensor]], list[dict[str, torch.Tensor]]],
    audio: torch.Tensor,
    feature_cfg,
    window_seconds: float,
    overlap_seconds: float,
    windows_per_batch: int,
) -> dict[str, torch.Tensor]:
    """Run ``encode`` (waveforms -> per waveform ``{name: (frames, D)}``) over overlapping windows
    of ``audio`` and stitch the per-frame outputs on the global frame grid (:func:`window_plan`)."""
    stride = feature_cfg.stride
    window = int(window_seconds * SAMPLE_RATE) // stride * stride
    overlap = int(overlap_seconds * SAMPLE_RATE) // stride * stride
    if not 0 <= overlap < window:
        raise ValueError(f"overlap ({overlap_seconds} s) must be shorter than the window ({window_seconds} s)")
    plan = window_plan(audio.numel(), window, overlap, stride, feature_cfg.receptive_field)
    total = plan[-1][3]
    # Filled in place, window by window: peak memory is the result plus a batch of windows' activations.
    result: dict[str, torch.Tensor] = {}
    for group in range(0, len(plan), windows_per_batch):
        chunk = plan[group : group + windows_per_batch]
        outputs = encode([audio[s:e] for s, e, _, _ in chunk])
        for (start, _, keep_from, keep_to), out in zip(chunk, outputs):
            first = start // stride
            for name, values in out.items():
                if name not in result:
                    result[name] = torch.empty(total, values.shape[-1], dtype=values.dtype)
                result[name][keep_from:keep_to] = values[keep_from - first : keep_to - first]
    return result


class WeightedLayerSum(nn.Module):
    """Learnable softmax-weighted sum of layers (s3prl's Featurizer, SUPERB style).

    Weights start equal (zero logits). With ``layer_norm`` each layer is normalized over its
    feature dimension (no affine) before weighting, so layers of different scale mix fairly.
    """

    def __init__(self, num_layers: int, layer_norm: bool = False):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))
        self.layer_norm = layer_norm

    @property
    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, layers: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """layers: ``(num_layers, ..., D)`` or a list of ``(..., D)`` tensors -> ``(..., D)``."""
        stacked = torch.stack(list(layers)) if isinstance(layers, (list, tuple)) else layers
        if stacked.shape[0] != self.logits.numel():
            raise ValueError(f"expected {self.logits.numel()} layers, got {stacked.shape[0]}")
        if self.layer_norm:
            stacked = nn.functional.layer_norm(stacked, stacked.shape[-1:])
        weights = self.weights.view(-1, *([1] * (stacked.dim() - 1)))
        return (weights * stacked).sum(0)
