"""Import fairseq wav2vec 2.0 checkpoints (pretraining and fine-tuned CTC) without fairseq.

A fairseq checkpoint is a pickle: ``{"model": state_dict, "cfg": OmegaConf DictConfig}`` or, for
older files such as ``wav2vec_small.pt``, ``{"model": ..., "args": argparse.Namespace}``. Plain
``torch.load`` would need fairseq/omegaconf importable and would run whatever the pickle names.
Here a restricted unpickler resolves torch's tensor rebuilders and builtin containers only;
every other class (omegaconf containers and nodes, Namespace, enums) becomes an inert
:class:`Opaque` record of its pickled state, which :func:`to_plain` turns into dicts and lists.
Nothing from the file is ever called, so omegaconf may be absent and a malicious file cannot
execute code.

Dictionary (peers.md §2.3): a fine-tuned head predicts fairseq ``Dictionary`` indices:
``<s>`` 0 (the CTC blank), ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, then ``dict.ltr.txt`` in order.
speechssl keeps every row (blank stays 0), so the vocabulary is
``["<s>", "<pad>", "</s>", "<unk>", *symbols]``.
"""

from __future__ import annotations

import ast
import os
import pickle
import types
from dataclasses import dataclass
from typing import Any

import torch

from speechssl.config import FeatureEncoderConfig, MaskingConfig, QuantizerConfig, TransformerConfig, Wav2Vec2Config
from speechssl.convert.keymap import Rule, prefixed, to_ours
from speechssl.serialization import Model, build_model
from speechssl.text.tokenizer import CharTokenizer, read_dictionary

ENCODER_RULES: list[Rule] = [
    ("feature_encoder.conv_layers.{i}.conv.{p}", "feature_extractor.conv_layers.{i}.0.{p}"),
    ("feature_encoder.conv_layers.{i}.norm.{p}", "feature_extractor.conv_layers.{i}.2.{p}"),  # group norm
    ("feature_encoder.conv_layers.{i}.norm.{p}", "feature_extractor.conv_layers.{i}.2.1.{p}"),  # layer norm
    ("feature_norm.{p}", "layer_norm.{p}"),
    ("projection.{p}", "post_extract_proj.{p}"),
    ("mask_embedding", "mask_emb"),
    ("transformer.pos_conv.{p}", "encoder.pos_conv.0.{p}"),
    ("transformer.layer_norm.{p}", "encoder.layer_norm.{p}"),
    ("transformer.layers.{n}.attention.{proj}_proj.{p}", "encoder.layers.{n}.self_attn.{proj}_proj.{p}"),
    ("transformer.layers.{n}.attention_norm.{p}", "encoder.layers.{n}.self_attn_layer_norm.{p}"),
    ("transformer.layers.{n}.fc1.{p}", "encoder.layers.{n}.fc1.{p}"),
    ("transformer.layers.{n}.fc2.{p}", "encoder.layers.{n}.fc2.{p}"),
    ("transformer.layers.{n}.final_norm.{p}", "encoder.layers.{n}.final_layer_norm.{p}"),
]
PRETRAINING_RULES: list[Rule] = prefixed(ENCODER_RULES, "encoder.", "") + [
    ("quantizer.codevectors", "quantizer.vars"),
    ("quantizer.weight_proj.{p}", "quantizer.weight_proj.{p}"),
    ("project_q.{p}", "project_q.{p}"),
    ("final_proj.{p}", "final_proj.{p}"),
]
CTC_RULES: list[Rule] = prefixed(ENCODER_RULES, "encoder.", "w2v_encoder.w2v_model.") + [
    ("ctc_head.{p}", "w2v_encoder.proj.{p}")
]
# Pretraining-only modules some fine-tuned checkpoints still carry; a CTC model has no use for them.
_CTC_DROPPED_PREFIXES = tuple(
    f"w2v_encoder.w2v_model.{m}" for m in ("quantizer.", "project_q.", "final_proj.", "target_glu.")
)


# --------------------------------------------------------------------------------------------
# Safe unpickling


class Opaque:
    """Stand-in for any class a checkpoint names: records constructor args and pickled state."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"Opaque({self.qualname})"


def _opaque_class(module: str, name: str) -> type:
    return type(name, (Opaque,), {"qualname": f"{module}.{name}"})


_TORCH_REBUILDERS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("collections", "OrderedDict"),
}
_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "str", "bytes", "bool", "complex", "slice"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TORCH_REBUILDERS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module == "builtins" and name in _BUILTINS:
            return super().find_class(module, name)
        return _opaque_class(module, name)  # never import or call anything else


restricted_pickle = types.SimpleNamespace(Unpickler=_RestrictedUnpickler, load=pickle.load, __name__="restricted_pickle")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Unpickle a fairseq checkpoint without importing or running anything it names."""
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle)


def to_plain(obj: Any) -> Any:
    """Opaque omegaconf/argparse/enum records -> plain dicts, lists and scalars."""
    if isinstance(obj, Opaque):
        state = obj.state
        if isinstance(state, dict) and "_content" in state:  # omegaconf DictConfig / ListConfig
            return to_plain(state["_content"])
        if isinstance(state, dict) and "_val" in state:  # omegaconf value node
            return to_plain(state["_val"])
        if isinstance(state, dict):  # argparse.Namespace and other plain objects
            return {k: to_plain(v) for k, v in state.items()}
        if obj.args:  # enums pickle as Class(value)
            return to_plain(obj.args[0])
        return None
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Config


def parse_conv_layers(spec: str) -> tuple[tuple[int, int, int], ...]:
    """Evaluate fairseq's ``conv_feature_layers`` string (lists, tuples, ints, + and *) safely."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported conv_feature_layers expression: {spec!r}")

    return tuple(tuple(layer) for layer in ev(ast.parse(spec, mode="eval")))


def _model_and_task(ckpt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(model cfg, task cfg, criterion cfg) as plain dicts, from ``cfg`` or legacy ``args``."""
    if ckpt.get("cfg") is not None:
        cfg = to_plain(ckpt["cfg"])
        return cfg.get("model") or {}, cfg.get("task") or {}, cfg.get("criterion") or {}
    if ckpt.get("args") is not None:
        args = to_plain(ckpt["args"])  # one flat namespace for model, task and criterion
        return args, args, args
    raise ValueError("checkpoint has neither 'cfg' nor 'args'")


def _pretraining_cfg(model: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """For a fine-tuned checkpoint: the embedded pretraining (model, task, criterion) config."""
    w2v_args = model.get("w2v_args")
    if w2v_args is None:
        raise ValueError("fine-tuned checkpoint has no w2v_args (the pretraining config)")
    if "model" in w2v_args:
        return w2v_args["model"], w2v_args.get("task") or {}, w2v_args.get("criterion") or {}
    return w2v_args, w2v_args, w2v_args


def _check_supported(model: dict[str, Any]) -> None:
    unsupported = {
        "pos_conv_depth": (1, None),
        "layer_type": ("transformer", None),
        "quantize_input": (False, None),
        "target_glu": (False, None),
        "negatives_from_everywhere": (False, None),
        "cross_sample_negatives": (0, None),
        "codebook_negatives": (0, None),
        "activation_fn": ("gelu", None),
    }
    for key, allowed in unsupported.items():
        if model.get(key) not in allowed:
            raise ValueError(f"fairseq {key}={model[key]!r} is not supported by speechssl")


def config_from_fairseq(model: dict[str, Any], task: dict[str, Any], criterion: dict[str, Any]) -> Wav2Vec2Config:
    _check_supported(model)
    g = model.get
    temp = g("latent_temp", (2.0, 0.5, 0.999995))
    if isinstance(temp, str):
        temp = ast.literal_eval(temp)
    weights = criterion.get("loss_weights") or [0.1, 10.0]
    if isinstance(weights, str):
        weights = ast.literal_eval(weights)
    conv = g("conv_feature_layers") or "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    return Wav2Vec2Config(
        feature_encoder=FeatureEncoderConfig(
            conv_layers=parse_conv_layers(conv) if isinstance(conv, str) else conv,
            norm="layer" if g("extractor_mode", "default") == "layer_norm" else "group",
            conv_bias=bool(g("conv_bias", False)),
            feature_grad_mult=float(g("feature_grad_mult", 0.1)),
        ),
        transformer=TransformerConfig(
            embed_dim=g("encoder_embed_dim", 768),
            num_layers=g("encoder_layers", 12),
            num_heads=g("encoder_attention_heads", 12),
            ffn_dim=g("encoder_ffn_embed_dim", 3072),
            layer_norm_first=bool(g("layer_norm_first", False)),
            pos_conv_kernel=g("conv_pos", 128),
            pos_conv_groups=g("conv_pos_groups", 16),
            dropout=g("dropout", 0.1),
            attention_dropout=g("attention_dropout", 0.1),
            activation_dropout=g("activation_dropout", 0.0),
            layerdrop=g("encoder_layerdrop", 0.05),
        ),
        quantizer=QuantizerConfig(
            num_groups=g("latent_groups", 2),
            num_vars=g("latent_vars", 320),
            dim=g("latent_dim", 0),
            temp_start=float(temp[0]),
            temp_end=float(temp[1]),
            temp_decay=float(temp[2]),
        ),
        masking=MaskingConfig(
            time_prob=g("mask_prob", 0.65),
            time_length=g("mask_length", 10),
            channel_prob=g("mask_channel_prob", 0.0),
            channel_length=g("mask_channel_length", 10),
        ),
        final_dim=g("final_dim", 256) or g("encoder_embed_dim", 768),
        dropout_input=g("dropout_input", 0.1),
        dropout_features=g("dropout_features", 0.1),
        num_negatives=g("num_negatives", 100),
        logit_temp=g("logit_temp", 0.1),
        diversity_weight=float(weights[0]),
        feature_penalty_weight=float(weights[1]) if len(weights) > 1 else 0.0,
        normalize_waveform=bool(task.get("normalize", False)),
    )


def _finetuning_overrides(cfg: Wav2Vec2Config, ft: dict[str, Any], vocab_size: int) -> Wav2Vec2Config:
    """Fine-tuning replaces dropouts, masking and layerdrop of the pretraining config (Wav2VecEncoder)."""
    from dataclasses import replace

    g = ft.get
    transformer = replace(
        cfg.transformer,
        dropout=g("dropout", cfg.transformer.dropout),
        attention_dropout=g("attention_dropout", cfg.transformer.attention_dropout),
        activation_dropout=g("activation_dropout", cfg.transformer.activation_dropout),
        layerdrop=g("layerdrop", cfg.transformer.layerdrop),
    )
    masking = replace(
        cfg.masking,
        time_prob=g("mask_prob", cfg.masking.time_prob),
        time_length=g("mask_length", cfg.masking.time_length),
        channel_prob=g("mask_channel_prob", cfg.masking.channel_prob),
        channel_length=g("mask_channel_length", cfg.masking.channel_length),
    )
    encoder = replace(cfg.feature_encoder, feature_grad_mult=float(g("feature_grad_mult", 0.0)))
    return replace(
        cfg,
        feature_encoder=encoder,
        transformer=transformer,
        masking=masking,
        dropout_input=g("dropout_input", cfg.dropout_input),
        final_dropout=g("final_dropout", 0.0),
        vocab_size=vocab_size,
    )


# --------------------------------------------------------------------------------------------
# Import


@dataclass
class FairseqImport:
    model: Model
    vocab: list[str] | None  # CTC tokens by class index, when a dictionary was given


def load_fairseq(path: str | os.PathLike, dictionary: str | os.PathLike | None = None) -> FairseqImport:
    """Build the speechssl model equal to a fairseq wav2vec 2.0 checkpoint.

    Args:
        path: ``checkpoint_best.pt`` of a pretraining (``Wav2Vec2Model``) or fine-tuning
            (``Wav2VecCtc``) run.
        dictionary: ``dict.ltr.txt`` of a fine-tuned model, to return its vocabulary.
    """
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path}: not a fairseq checkpoint (no 'model' entry)")
    state = {k: v for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    model_cfg, task_cfg, criterion_cfg = _model_and_task(ckpt)
    is_ctc = any(k.startswith("w2v_encoder.") for k in state)
    vocab = read_dictionary(dictionary) if dictionary is not None else None
    if is_ctc:
        cfg = config_from_fairseq(*_pretraining_cfg(model_cfg))
        vocab_size = state["w2v_encoder.proj.weight"].shape[0]
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(f"{dictionary}: {len(vocab)} classes with specials, but the head has {vocab_size}")
        cfg = _finetuning_overrides(cfg, model_cfg, vocab_size)
        state = {k: v for k, v in state.items() if not k.startswith(_CTC_DROPPED_PREFIXES)}
        kind, rules = "ctc", CTC_RULES
    else:
        cfg = config_from_fairseq(model_cfg, task_cfg, criterion_cfg)
        kind, rules = "pretraining", PRETRAINING_RULES
    model = build_model(kind, cfg)
    missing, unexpected = model.load_state_dict(to_ours(state, rules, what=f"fairseq ({path})"), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the checkpoint's config: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    if kind == "ctc" and vocab is not None:
        model.tokenizer = CharTokenizer(vocab)
    return FairseqImport(model.eval(), vocab)
