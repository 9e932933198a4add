"""ONNX export: a speechssl model -> one ``.onnx`` file that transcribes (or encodes) on its own.

The graph is the eval-mode model traced at a padded batch, so it is padding-correct for any
batch: dynamic batch and time axes, frame lengths from sample lengths, padded frames masked in
attention, the positional conv and (group-norm models) conv 0's normalization statistics, as the
PyTorch model computes them. Nothing of training is in it (no dropout, layerdrop or masks).

Inputs:
    ``waveform`` (batch, samples) float32, zero-padded; normalized first when the metadata's
    ``normalize_waveform`` is true (zero mean, unit variance over each utterance's samples);
    ``lengths`` (batch,) int64 valid samples;
    group-norm models also take ``norm_mean`` / ``norm_var`` (C,) float32 and ``use_norm_stats``
    (bool scalar): true normalizes conv 0 with the given statistics (windows of one long
    utterance, which then see the conv features of one pass); false uses each row's own.
Outputs:
    ``logits`` (batch, frames, classes) for CTC models (padded frames: blank);
    ``frame_lengths`` (batch,) int64;
    ``layer_<name>`` (batch, frames, dim) for each exported layer (names as in
    :func:`~speechssl.inference.features.parse_layers`: conv, 0 .. L, final);

The metadata entry ``speechssl`` (JSON) holds the model kind, its config, the tokenizer,
``sample_rate``, ``frame_rate``, ``stride``, ``receptive_field``, ``normalize_waveform``, the
exported layers, the opset and whether the graph is int8. For group-norm models it also holds
``conv0_stats_graph``: a small ONNX model (base64) of conv 0 alone, ``(waveform, lengths) ->
conv0_sum, conv0_sum_sq`` (batch, C) float64 sums over each row's valid frames, with which a
runtime sums a long utterance's statistics chunk by chunk (onnxruntime would run the whole main
graph for any output of it, so these sums are not outputs there).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechssl.audio import SAMPLE_RATE
from speechssl.inference.backend import encoder_of
from speechssl.inference.features import parse_layers
from speechssl.model.feature_encoder import NormStats, conv_output_lengths, masked_norm_stats

OPSET = 17  # LayerNormalization is a single op from 17 on; onnxruntime >= 1.12 runs it
META_KEY = "speechssl"
FORMAT_VERSION = 1
INSTALL_HINT = "ONNX needs onnx and onnxruntime: pip install 'speechssl[onnx]' (or: pip install onnx onnxruntime)"


def require_onnx(*modules: str) -> None:
    """ImportError with the one-line install hint when an ONNX package is missing."""
    import importlib.util

    for module in modules or ("onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            raise ImportError(INSTALL_HINT)


class InferenceGraph(nn.Module):
    """What is traced: the model's own eval forward; for group-norm models, conv 0 normalized with
    each row's own statistics or with given ones (:class:`NormStats`, per row)."""

    def __init__(self, model: nn.Module, layers: list[str]):
        super().__init__()
        self.model, self.encoder, self.layers = model, encoder_of(model), layers
        self.ctc = hasattr(model, "ctc_head")
        self.group_norm = self.encoder.feature_encoder.normalizes_over_time
        self._encoded = None
        self.hook = self.encoder.register_forward_hook(self._keep_output)  # the encoder output of a CTC forward
        self.eval()  # the exporter restores this mode afterwards, to the model too

    def _keep_output(self, module, args, output) -> None:
        self._encoded = output

    def output_names(self) -> list[str]:
        return (["logits"] if self.ctc else []) + ["frame_lengths"] + [f"layer_{n}" for n in self.layers]

    def input_names(self) -> list[str]:
        return ["waveform", "lengths"] + (["norm_mean", "norm_var", "use_norm_stats"] if self.group_norm else [])

    def forward(self, waveform, lengths, norm_mean=None, norm_var=None, use_norm_stats=None):
        """waveform ``(B, S)``, lengths ``(B,)`` [, ``(C,)``, ``(C,)``, bool ``()``] -> the outputs above."""
        stats = None
        if self.group_norm:
            # The conv is the same node as the model's conv 0: onnxruntime computes it once.
            conv0, valid = conv0_valid(self.encoder, waveform, lengths)
            mean, var = masked_norm_stats(conv0, valid)  # (B, C, 1)
            stats = NormStats(torch.where(use_norm_stats, norm_mean[None, :], mean[..., 0]),
                              torch.where(use_norm_stats, norm_var[None, :], var[..., 0]))  # (B, C)
        numbered = any(n not in ("conv", "final") for n in self.layers)
        forward = self.model if self.ctc else self.encoder  # a pretraining model: its encoder alone
        out = forward(waveform, lengths, output_hidden_states=numbered, norm_stats=stats)
        encoded = self._encoded if self.ctc else out
        picked = []
        for name in self.layers:
            if name == "conv":
                picked.append(encoded.features)
            elif name == "final":
                picked.append(encoded.context)
            else:
                picked.append(encoded.hidden_states[int(name)])
        return (*([out.logits] if self.ctc else []), encoded.lengths, *picked)


class Conv0StatsGraph(nn.Module):
    """Conv 0's output summed over each row's valid frames, in float64 ``(B, C)``: a long utterance's
    normalization statistics, accumulated chunk by chunk (as ``utterance_norm_stats`` does)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.eval()

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv0, valid = conv0_valid(self.encoder, waveform, lengths)
        masked = conv0.double() * valid.double()  # (B, C, T0)
        return masked.sum(-1), (masked * masked).sum(-1)


def conv0_valid(encoder: nn.Module, waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv 0 of ``(B, S)`` audio -> its fp32 output ``(B, C, T0)`` and valid frames ``(B, 1, T0)`` as 0/1."""
    block = encoder.feature_encoder.conv_layers[0]
    conv0 = block.conv(waveform.unsqueeze(1)).float()  # (B, 1, S) -> (B, C, T0)
    frames = conv_output_lengths(lengths, block.spec)
    valid = (torch.arange(conv0.shape[-1])[None, :] < frames[:, None]).to(torch.float32)[:, None, :]
    return conv0, valid


def _vecdot(g, x, y, dim):
    """``torch.linalg.vecdot`` (conv 0's masked statistics) for the TorchScript exporter: Mul + ReduceSum."""
    from torch.onnx import symbolic_helper

    dim = symbolic_helper._get_const(dim, "i", "dim")
    axes = g.op("Constant", value_t=torch.tensor([dim], dtype=torch.long))
    return g.op("ReduceSum", g.op("Mul", x, y), axes, keepdims_i=0)


def _attention(head_dim: int):
    """``F.scaled_dot_product_attention`` for the TorchScript exporter, as this model calls it (a
    boolean key-padding mask, the default scale, no dropout in eval).

    The stock translation guards against rows whose every key is masked: IsNaN + Where over each
    ``(B, H, T, T)`` probability tensor, two passes over the largest tensor of a layer, and a
    pattern onnxruntime fuses with nothing. A key-padding mask masks every key only for a row
    with no frame at all, which the model rejects, so the graph leaves the guard out: measured
    ~11 % less onnxruntime time for a 15.6 s BASE window (docs/benchmarks.md, B9).
    """
    from torch.onnx import symbolic_helper

    def symbolic(g, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if not symbolic_helper._is_none(scale) or symbolic_helper._maybe_get_const(is_causal, "b"):
            raise RuntimeError("ONNX export: attention with a custom scale or causal mask is not this model's")
        scale_value = g.op("Constant", value_t=torch.tensor(head_dim**-0.5))
        keys_t = g.op("Transpose", key, perm_i=[0, 1, 3, 2])  # (B, H, E/H, T)
        scores = g.op("MatMul", g.op("Mul", query, scale_value), keys_t)  # (B, H, T, T)
        if not symbolic_helper._is_none(attn_mask):  # (B, 1, 1, T) bool: True where a key may be attended
            zero = g.op("Constant", value_t=torch.tensor([0.0]))
            minus_inf = g.op("Constant", value_t=torch.tensor([-float("inf")]))
            scores = g.op("Add", scores, g.op("Where", attn_mask, zero, minus_inf))
        return g.op("MatMul", g.op("Softmax", scores, axis_i=-1), value)  # (B, H, T, E/H)

    return symbolic


def metadata(model: nn.Module, layers: list[str], opset: int, int8: bool) -> dict:
    encoder = encoder_of(model)
    fe = encoder.cfg.feature_encoder
    tokenizer = getattr(model, "tokenizer", None)
    return {
        "format": "speechssl-onnx", "version": FORMAT_VERSION,
        "kind": "ctc" if hasattr(model, "ctc_head") else "encoder",
        "config": encoder.cfg.to_dict(),
        "tokenizer": tokenizer.to_dict() if tokenizer is not None else None,
        "blank": 0,
        "sample_rate": SAMPLE_RATE, "stride": fe.stride, "receptive_field": fe.receptive_field,
        "frame_rate": SAMPLE_RATE / fe.stride,
        "normalize_waveform": bool(encoder.cfg.normalize_waveform),
        "group_norm": bool(encoder.feature_encoder.normalizes_over_time),
        "layers": layers, "opset": opset, "int8": int8,
    }


def export_onnx(
    model: nn.Module, path: str | os.PathLike, *, layers: str | list | None = None, int8: bool = False, opset: int = OPSET,
) -> Path:
    """Write ``model`` (a CTC model or an encoder) as an ONNX inference graph to ``path``.

    Args:
        layers: hidden layers to add as outputs (see :func:`parse_layers`); default: none for a
            CTC model, ``"all"`` for an encoder.
        int8: quantize the transformer layers' MatMul nodes to dynamic int8 (onnxruntime's
            quantization tools); the conv front end, its projection and the CTC head stay fp32.
    """
    require_onnx()
    import onnx

    if opset < OPSET:
        raise ValueError(f"opset {opset}: the export needs opset {OPSET} or newer")
    path = Path(path)
    encoder = encoder_of(model)
    ctc = hasattr(model, "ctc_head")
    if not ctc and not layers:
        layers = "all"
    names = parse_layers(layers, encoder.cfg.transformer.num_layers) if layers else []
    if ctc and getattr(model, "tokenizer", None) is None:
        raise ValueError("the CTC model has no tokenizer (vocabulary): an .onnx without one cannot transcribe")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("export from a model on the CPU (load it with map_location='cpu')")
    graph = InferenceGraph(model.eval(), names)
    fe = encoder.cfg.feature_encoder
    # Traced at a padded batch of two, so every padding branch of the model is in the graph.
    samples = fe.receptive_field + 40 * fe.stride
    waveform, lengths = torch.zeros(2, samples).uniform_(-0.1, 0.1), torch.tensor([samples, samples - 7 * fe.stride - 3])
    example = (waveform, lengths)
    channels = fe.conv_layers[0][0]
    if graph.group_norm:
        example += (torch.zeros(channels), torch.ones(channels), torch.tensor(False))
    frames = {0: "batch", 1: "frames"}
    dynamic = {"waveform": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}, "frame_lengths": {0: "batch"},
               **{name: frames for name in graph.output_names() if name != "frame_lengths"}}
    meta = metadata(model, names, opset, int8)
    validate = encoder.validate_inputs
    encoder.validate_inputs = False  # value checks are host-side Python, not graph nodes
    transformer = encoder.cfg.transformer
    torch.onnx.register_custom_op_symbolic("aten::linalg_vecdot", _vecdot, opset)
    torch.onnx.register_custom_op_symbolic(
        "aten::scaled_dot_product_attention", _attention(transformer.embed_dim // transformer.num_heads), opset)
    try:
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about the CPU padding shortcuts, taken as padded
            traced = Path(tmp) / "fp32.onnx"
            torch.onnx.export(
                graph, example, str(traced), dynamo=False, opset_version=opset, input_names=graph.input_names(),
                output_names=graph.output_names(), dynamic_axes=dynamic, do_constant_folding=True,
            )
            if int8:
                quantize_onnx_int8(traced, Path(tmp) / "int8.onnx")
                traced = Path(tmp) / "int8.onnx"
            proto = convs_as_2d(onnx.load(str(traced)))
            if graph.group_norm:
                stats = Path(tmp) / "conv0_stats.onnx"
                torch.onnx.export(
                    Conv0StatsGraph(encoder), (waveform, lengths), str(stats), dynamo=False, opset_version=opset,
                    input_names=["waveform", "lengths"], output_names=["conv0_sum", "conv0_sum_sq"],
                    dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "lengths": {0: "batch"},
                                  "conv0_sum": {0: "batch"}, "conv0_sum_sq": {0: "batch"}},
                )
                stats_proto = convs_as_2d(onnx.load(str(stats)))
                meta["conv0_stats_graph"] = base64.b64encode(stats_proto.SerializeToString()).decode("ascii")
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::linalg_vecdot", opset)
        torch.onnx.unregister_custom_op_symbolic("aten::scaled_dot_product_attention", opset)
        graph.hook.remove()
        encoder.validate_inputs = validate
    del proto.metadata_props[:]
    readable = {"sample_rate": str(SAMPLE_RATE), "frame_rate": str(meta["frame_rate"]),
                "normalize_waveform": str(meta["normalize_waveform"]).lower()}
    for key, value in {META_KEY: json.dumps(meta), **readable}.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "speechssl"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def convs_as_2d(proto):
    """Each 1-D Conv of ``proto`` with a constant weight (the conv front end and the positional
    conv) as a 2-D Conv of height 1 between an Unsqueeze and a Squeeze; returns ``proto``, changed
    in place.

    The same arithmetic, but onnxruntime's CPU provider runs 2-D convs in its blocked NCHWc
    layout, which it never applies to 1-D ones: measured on a BASE model (2-core Xeon, AVX-512),
    the front end as 2-D took 5-10 % less time per window in fp32 and int8 at 4 to 30 s
    (transcription's windows), 2-5 % more at 60 s; the grouped positional conv (16 groups of 48
    channels, kernel 128) alone ran 1.2x faster at 15.6 s and 1.3-1.4x at 60 s (tools/bench/onnx_ops.py).
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    weights = {w.name: w for w in graph.initializer}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def convertible(node) -> bool:
        weight = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        return (weight is not None and len(weight.dims) == 3
                and all(user.op_type == "Conv" and user.input[1] == weight.name for user in users[weight.name]))

    to_4d = {"kernel_shape": lambda v: [1, *v], "strides": lambda v: [1, *v],
             "dilations": lambda v: [1, *v], "pads": lambda v: [0, v[0], 0, v[1]]}  # (begin, end) per axis
    axis = "speechssl_conv_height_axis"
    nodes, reshaped = [], set()
    for node in graph.node:
        if not convertible(node):
            nodes.append(node)
            continue
        weight = weights[node.input[1]]
        if weight.name not in reshaped:  # (out, in, k) -> (out, in, 1, k), shared by every user
            weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight)[:, :, None, :], weight.name))
            reshaped.add(weight.name)
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attributes = {k: to_4d.get(k, lambda v: v)(v) for k, v in attributes.items()}
        wide_in, wide_out = f"{node.output[0]}_4d_input", f"{node.output[0]}_4d"
        nodes += [helper.make_node("Unsqueeze", [node.input[0], axis], [wide_in], name=f"{node.name}_to_4d"),
                  helper.make_node("Conv", [wide_in, *node.input[1:]], [wide_out], name=node.name, **attributes),
                  helper.make_node("Squeeze", [wide_out, axis], [node.output[0]], name=f"{node.name}_to_3d")]
    if reshaped:
        graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axis))
        del graph.node[:]
        graph.node.extend(nodes)
    return proto


def quantizable_nodes(proto) -> list[str]:
    """The MatMul/Gemm nodes of the transformer layers with a constant weight: attention's QKV and
    output projections and the two feed-forward ones (not the attention scores, the feature
    projection or the CTC head)."""
    constants = {i.name for i in proto.graph.initializer}
    return [n.name for n in proto.graph.node
            if n.op_type in ("MatMul", "Gemm") and "/transformer/layers." in n.name and n.input[1] in constants]


def quantize_onnx_int8(source: Path, destination: Path) -> None:
    """Dynamic int8 (per-channel weights, per-batch activations) of :func:`quantizable_nodes`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = quantizable_nodes(onnx.load(str(source)))
    if not nodes:
        raise RuntimeError("found no transformer MatMul nodes to quantize in the exported graph")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape pre-processing concerns static quantization
    try:
        quantize_dynamic(str(source), str(destination), op_types_to_quantize=["MatMul", "Gemm"],
                         nodes_to_quantize=nodes, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
