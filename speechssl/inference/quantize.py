"""int8 inference: dynamic quantization of the transformer's Linear layers (CPU).

The transformer's four Linears per layer (QKV, attention output, two feed-forward) hold ~85 %
of BASE's parameters and most of its inference FLOPs at utterance lengths, so they run with
int8 weights and per-batch int8 activations (``torch.ao.quantization.quantize_dynamic``).
Everything that shapes the signal before them stays fp32: the conv feature encoder, its
LayerNorm and projection, the positional convolution, and the CTC head, whose logits decide
the transcript (docs/benchmarks.md: transcript agreement and WER against fp32).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    encoder = getattr(model, "encoder", model)
    return encoder.transformer.layers


def quantize_int8(model: nn.Module) -> nn.Module:
    """Quantize ``model``'s transformer Linears to dynamic int8, in place; returns ``model``."""
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 dynamic quantization runs on the CPU: load the model with --device cpu")
    model.eval()
    with warnings.catch_warnings():  # torch >= 2.10 points to torchao; the ao path is what 2.11-2.14 ship
        warnings.simplefilter("ignore")
        for layer in encoder_layers(model):
            # per-output-channel weight scales: one scale per row keeps small rows accurate
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            torch.ao.quantization.quantize_dynamic(layer, {nn.Linear: qconfig}, dtype=torch.qint8, inplace=True)
    return model
