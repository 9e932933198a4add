"""The one place where inference runs a model: a PyTorch module or an onnxruntime session.

Transcription and feature extraction (windows, batching, stitching, decoding, writers) call a
backend's :meth:`~TorchBackend.run` and :meth:`~TorchBackend.utterance_norm_stats` and nothing
else of the model, so the same pipeline runs on either runtime
(:class:`~speechssl.inference.onnx_runtime.OnnxBackend` is the other one).
"""

from __future__ import annotations

import torch
from torch import nn

from speechssl.model.feature_encoder import NormStats


def encoder_of(model: nn.Module) -> nn.Module:
    """The :class:`~speechssl.model.Wav2Vec2Encoder` inside any speechssl model."""
    return getattr(model, "encoder", model)


def select_layers(out, names: list[str]) -> dict[str, torch.Tensor]:
    """Pick the named layers from an :class:`~speechssl.model.EncoderOutput` (batched)."""
    picked = {}
    for name in names:
        if name == "conv":
            picked[name] = out.features
        elif name == "final":
            picked[name] = out.context
        else:
            picked[name] = out.hidden_states[int(name)]
    return picked


class TorchBackend:
    """A speechssl PyTorch model (CTC or encoder) on whatever device it sits.

    Attributes shared with the ONNX backend: ``cfg`` (the model's :class:`Wav2Vec2Config`),
    ``tokenizer`` (None for encoders), ``is_ctc``, ``layers`` (the layer names it can return;
    None: any), ``name`` (for messages).
    """

    layers = None

    def __init__(self, model: nn.Module):
        self.model = model
        self.encoder = encoder_of(model)
        self.cfg = self.encoder.cfg
        self.tokenizer = getattr(model, "tokenizer", None)
        self.is_ctc = hasattr(model, "ctc_head")
        self.name = type(model).__name__

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def run(
        self, waveform: torch.Tensor, lengths: torch.Tensor, outputs: list[str], norm_stats: NormStats | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One forward pass of a padded batch.

        Args:
            waveform: ``(B, S)`` zero-padded (and already normalized if the model wants it).
            lengths: ``(B,)`` valid samples.
            outputs: ``["logits"]`` (CTC models) or layer names (see ``parse_layers``).
            norm_stats: conv 0's statistics for every row (windows of one long utterance).

        Returns:
            ``{name: (B, T, D)}`` (padded frames hold anything) and the ``(B,)`` valid frames.
        """
        waveform, lengths = waveform.to(self.device), lengths.to(self.device)
        if outputs == ["logits"]:
            out = self.model(waveform, lengths, norm_stats=norm_stats)
            return {"logits": out.logits}, out.lengths
        out = self.encoder(waveform, lengths, output_hidden_states=True, norm_stats=norm_stats)
        return select_layers(out, outputs), out.lengths

    def utterance_norm_stats(self, audio: torch.Tensor) -> NormStats | None:
        """For group-norm models, conv 0's statistics over the whole ``(samples,)`` utterance
        (windows normalized with them see the conv features of one pass); None for layer-norm
        models, which need none."""
        feature_encoder = self.encoder.feature_encoder
        if not feature_encoder.normalizes_over_time:
            return None
        return feature_encoder.utterance_norm_stats(audio.to(self.device))


def check_layers(backend, names: list[str]) -> None:
    """ValueError naming the model when it cannot return every layer in ``names`` (an export
    carries only the layers it was exported with)."""
    missing = [n for n in names if backend.layers is not None and n not in backend.layers]
    if missing:
        exported = ", ".join(backend.layers) or "none"
        raise ValueError(f"{backend.name}: layer {', '.join(missing)} not exported (it has: {exported}); "
                         f"export again with --layers {','.join(names)}")


def as_backend(model):
    """A backend for ``model``: backends pass through, PyTorch modules get a :class:`TorchBackend`."""
    if isinstance(model, nn.Module):
        return TorchBackend(model)
    if hasattr(model, "run") and hasattr(model, "utterance_norm_stats"):
        return model
    raise TypeError(f"not a speechssl model or inference backend: {type(model).__name__}")
