"""Import and export Hugging Face ``transformers`` wav2vec 2.0 directories, without transformers.

Reads and writes ``config.json``, ``model.safetensors`` (or ``pytorch_model.bin``, sharded or
not) and ``preprocessor_config.json``. Both weight-norm namings of the positional conv load
(``weight_g``/``weight_v`` and ``parametrizations.weight.original0/1``); export writes
``weight_g``/``weight_v``, which transformers 4.x and 5.x both read (peers.md §2.2).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from speechssl.config import FeatureEncoderConfig, MaskingConfig, QuantizerConfig, TransformerConfig, Wav2Vec2Config
from speechssl.convert.keymap import Rule, prefixed, to_ours, to_theirs
from speechssl.serialization import Model, build_model, model_kind
from speechssl.text.tokenizer import CharTokenizer

ENCODER_RULES: list[Rule] = [
    ("feature_encoder.conv_layers.{i}.conv.{p}", "feature_extractor.conv_layers.{i}.conv.{p}"),
    ("feature_encoder.conv_layers.{i}.norm.{p}", "feature_extractor.conv_layers.{i}.layer_norm.{p}"),
    ("feature_norm.{p}", "feature_projection.layer_norm.{p}"),
    ("projection.{p}", "feature_projection.projection.{p}"),
    ("mask_embedding", "masked_spec_embed"),
    ("transformer.pos_conv.{p}", "encoder.pos_conv_embed.conv.{p}"),
    ("transformer.layer_norm.{p}", "encoder.layer_norm.{p}"),
    ("transformer.layers.{n}.attention.{proj}_proj.{p}", "encoder.layers.{n}.attention.{proj}_proj.{p}"),
    ("transformer.layers.{n}.attention_norm.{p}", "encoder.layers.{n}.layer_norm.{p}"),
    ("transformer.layers.{n}.fc1.{p}", "encoder.layers.{n}.feed_forward.intermediate_dense.{p}"),
    ("transformer.layers.{n}.fc2.{p}", "encoder.layers.{n}.feed_forward.output_dense.{p}"),
    ("transformer.layers.{n}.final_norm.{p}", "encoder.layers.{n}.final_layer_norm.{p}"),
]
PRETRAINING_HEAD_RULES: list[Rule] = [
    ("quantizer.codevectors", "quantizer.codevectors"),
    ("quantizer.weight_proj.{p}", "quantizer.weight_proj.{p}"),
    ("project_q.{p}", "project_q.{p}"),
    ("final_proj.{p}", "project_hid.{p}"),
]
RULES: dict[str, list[Rule]] = {
    "encoder": ENCODER_RULES,
    "pretraining": prefixed(ENCODER_RULES, "encoder.", "wav2vec2.") + PRETRAINING_HEAD_RULES,
    "ctc": prefixed(ENCODER_RULES, "encoder.", "wav2vec2.") + [("ctc_head.{p}", "lm_head.{p}")],
}
ARCHITECTURES = {"encoder": "Wav2Vec2Model", "pretraining": "Wav2Vec2ForPreTraining", "ctc": "Wav2Vec2ForCTC"}
# transformers writes the parametrized weight-norm names since torch 2.1; fold them to fairseq's.
_WEIGHT_NORM_ALIASES = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}


# --------------------------------------------------------------------------------------------
# Config


def config_from_hf(hf: dict[str, Any], normalize_waveform: bool | None = None) -> Wav2Vec2Config:
    """Translate a transformers ``Wav2Vec2Config`` dict; reject what speechssl does not model."""
    if hf.get("model_type", "wav2vec2") != "wav2vec2":
        raise ValueError(f"model_type {hf.get('model_type')!r} is not wav2vec2")
    for key in ("hidden_act", "feat_extract_activation"):
        if hf.get(key, "gelu") != "gelu":
            raise ValueError(f"{key}={hf[key]!r} is not supported (only gelu)")
    if hf.get("add_adapter") or hf.get("adapter_attn_dim"):
        raise ValueError("adapter layers (add_adapter / adapter_attn_dim) are not supported")
    conv = tuple(zip(hf["conv_dim"], hf["conv_kernel"], hf["conv_stride"]))
    if not len(hf["conv_dim"]) == len(hf["conv_kernel"]) == len(hf["conv_stride"]):
        raise ValueError("conv_dim, conv_kernel and conv_stride differ in length")
    norm = hf.get("feat_extract_norm", "group")
    if normalize_waveform is None:
        normalize_waveform = norm == "layer"  # fairseq's pairing of extractor and input normalization
    groups = hf.get("num_codevector_groups", 2)
    return Wav2Vec2Config(
        feature_encoder=FeatureEncoderConfig(
            conv_layers=conv,
            norm=norm,
            conv_bias=hf.get("conv_bias", False),
            feature_grad_mult=1.0 if norm == "layer" else 0.1,
        ),
        transformer=TransformerConfig(
            embed_dim=hf["hidden_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            ffn_dim=hf["intermediate_size"],
            layer_norm_first=hf.get("do_stable_layer_norm", False),
            pos_conv_kernel=hf.get("num_conv_pos_embeddings", 128),
            pos_conv_groups=hf.get("num_conv_pos_embedding_groups", 16),
            dropout=hf.get("hidden_dropout", 0.1),
            attention_dropout=hf.get("attention_dropout", 0.1),
            activation_dropout=hf.get("activation_dropout", 0.1),
            layerdrop=hf.get("layerdrop", 0.1),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-5),
        ),
        quantizer=QuantizerConfig(
            num_groups=groups,
            num_vars=hf.get("num_codevectors_per_group", 320),
            dim=hf.get("codevector_dim", 256),
        ),
        masking=MaskingConfig(
            time_prob=hf.get("mask_time_prob", 0.05),
            time_length=hf.get("mask_time_length", 10),
            time_min_masks=hf.get("mask_time_min_masks", 2),
            channel_prob=hf.get("mask_feature_prob", 0.0),
            channel_length=hf.get("mask_feature_length", 10),
            channel_min_masks=hf.get("mask_feature_min_masks", 0),
        ),
        final_dim=hf.get("proj_codevector_dim", 256),
        dropout_input=hf.get("feat_proj_dropout", 0.0),
        dropout_features=hf.get("feat_quantizer_dropout", 0.0),
        num_negatives=hf.get("num_negatives", 100),
        logit_temp=hf.get("contrastive_logits_temperature", 0.1),
        diversity_weight=hf.get("diversity_loss_weight", 0.1),
        normalize_waveform=normalize_waveform,
        final_dropout=hf.get("final_dropout", 0.1),
        vocab_size=hf.get("vocab_size", 32),
    )


def config_to_hf(cfg: Wav2Vec2Config, kind: str) -> dict[str, Any]:
    fe, tr, m = cfg.feature_encoder, cfg.transformer, cfg.masking
    return {
        "architectures": [ARCHITECTURES[kind]],
        "model_type": "wav2vec2",
        "feat_extract_norm": fe.norm,
        "feat_extract_activation": "gelu",
        "conv_dim": [c for c, _, _ in fe.conv_layers],
        "conv_kernel": [k for _, k, _ in fe.conv_layers],
        "conv_stride": [s for _, _, s in fe.conv_layers],
        "num_feat_extract_layers": len(fe.conv_layers),
        "conv_bias": fe.conv_bias,
        "hidden_size": tr.embed_dim,
        "num_hidden_layers": tr.num_layers,
        "num_attention_heads": tr.num_heads,
        "intermediate_size": tr.ffn_dim,
        "hidden_act": "gelu",
        "do_stable_layer_norm": tr.layer_norm_first,
        "num_conv_pos_embeddings": tr.pos_conv_kernel,
        "num_conv_pos_embedding_groups": tr.pos_conv_groups,
        "hidden_dropout": tr.dropout,
        "attention_dropout": tr.attention_dropout,
        "activation_dropout": tr.activation_dropout,
        "layerdrop": tr.layerdrop,
        "layer_norm_eps": tr.layer_norm_eps,
        "feat_proj_dropout": cfg.dropout_input,
        "feat_quantizer_dropout": cfg.dropout_features,
        "final_dropout": cfg.final_dropout,
        "apply_spec_augment": True,
        "mask_time_prob": m.time_prob,
        "mask_time_length": m.time_length,
        "mask_time_min_masks": m.time_min_masks,
        "mask_feature_prob": m.channel_prob,
        "mask_feature_length": m.channel_length,
        "mask_feature_min_masks": m.channel_min_masks,
        "num_codevector_groups": cfg.quantizer.num_groups,
        "num_codevectors_per_group": cfg.quantizer.num_vars,
        "codevector_dim": cfg.quantizer_dim,
        "proj_codevector_dim": cfg.final_dim,
        "contrastive_logits_temperature": cfg.logit_temp,
        "num_negatives": cfg.num_negatives,
        "diversity_loss_weight": cfg.diversity_weight,
        "vocab_size": cfg.vocab_size if cfg.vocab_size else 32,
        "pad_token_id": 0,  # the CTC blank, as in transformers' fairseq port
        "bos_token_id": 1,
        "eos_token_id": 2,
        "ctc_loss_reduction": "sum",
        "ctc_zero_infinity": False,
        "add_adapter": False,
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    }


def preprocessor_config(cfg: Wav2Vec2Config) -> dict[str, Any]:
    from speechssl.audio import SAMPLE_RATE

    return {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "sampling_rate": SAMPLE_RATE,
        "padding_value": 0.0,
        "padding_side": "right",
        "do_normalize": cfg.normalize_waveform,
        "return_attention_mask": cfg.feature_encoder.norm == "layer",
    }


# --------------------------------------------------------------------------------------------
# Weights


def read_hf_weights(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a transformers directory: single or sharded, safetensors or pickle."""
    for index_name, loader in (("model.safetensors.index.json", "safetensors"), ("pytorch_model.bin.index.json", "bin")):
        index = directory / index_name
        if index.exists():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return {k: v for f in files for k, v in _read_weight_file(directory / f, loader).items()}
    if (directory / "model.safetensors").exists():
        return _read_weight_file(directory / "model.safetensors", "safetensors")
    if (directory / "pytorch_model.bin").exists():
        return _read_weight_file(directory / "pytorch_model.bin", "bin")
    raise FileNotFoundError(f"{directory}: no model.safetensors or pytorch_model.bin")


def _read_weight_file(path: Path, loader: str) -> dict[str, torch.Tensor]:
    if loader == "safetensors":
        return safetensors.torch.load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs


def _fold_weight_norm_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for new, old in _WEIGHT_NORM_ALIASES.items():
            if key.endswith(new):
                key = key[: -len(new)] + old
        out[key] = value
    return out


def _kind_of(hf_config: dict[str, Any], state: dict[str, torch.Tensor]) -> str:
    architectures = hf_config.get("architectures") or []
    for kind, name in ARCHITECTURES.items():
        if name in architectures:
            return kind
    if "lm_head.weight" in state:
        return "ctc"
    if "quantizer.codevectors" in state:
        return "pretraining"
    return "encoder"


def load_huggingface(directory: str | os.PathLike) -> Model:
    """Build the speechssl model (encoder, pretraining or CTC) equal to a transformers directory."""
    directory = Path(directory)
    hf_config = json.loads((directory / "config.json").read_text())
    normalize = None
    if (directory / "preprocessor_config.json").exists():
        normalize = json.loads((directory / "preprocessor_config.json").read_text()).get("do_normalize")
    state = _fold_weight_norm_names(read_hf_weights(directory))
    kind = _kind_of(hf_config, state)
    if kind == "encoder" and any(k.startswith("wav2vec2.") for k in state):
        state = {k[len("wav2vec2.") :]: v for k, v in state.items() if k.startswith("wav2vec2.")}
    cfg = config_from_hf(hf_config, normalize)
    model = build_model(kind, cfg)
    ours = to_ours(state, RULES[kind], what="Hugging Face")
    # transformers omits masked_spec_embed when its masking probabilities are 0; keep ours then.
    missing, unexpected = model.load_state_dict(ours, strict=False)
    allowed_missing = {k for k in missing if k.endswith("mask_embedding")}
    if set(missing) - allowed_missing or unexpected:
        raise ValueError(
            f"{directory}: weights do not fit config.json: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    if kind == "ctc" and (directory / "vocab.json").exists():
        _attach_tokenizer(model, directory, hf_config)
    return model.eval()


# --------------------------------------------------------------------------------------------
# Vocabulary (Wav2Vec2CTCTokenizer files)


def _token_content(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def read_hf_vocab(directory: Path, hf_config: dict[str, Any]) -> tuple[list[str], int, str]:
    """-> (tokens by transformers class id, the blank id, the word delimiter).

    transformers' blank is ``pad_token_id``, which community models often put last (the
    "[PAD]" recipe); tokens added beyond vocab.json (``<s>``, ``</s>``) come from
    tokenizer_config.json or added_tokens.json.
    """
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    tok_cfg_path = directory / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text(encoding="utf-8")) if tok_cfg_path.exists() else {}
    if vocab and all(isinstance(v, dict) for v in vocab.values()):  # multilingual: {lang: vocab}
        lang = tok_cfg.get("target_lang")
        if lang not in vocab:
            raise ValueError(f"{directory}/vocab.json holds several languages ({sorted(vocab)[:5]}...); set target_lang")
        vocab = vocab[lang]
    size = hf_config.get("vocab_size", len(vocab))
    tokens: list[str | None] = [None] * size
    added = {int(i): _token_content(t) for i, t in tok_cfg.get("added_tokens_decoder", {}).items()}
    if (directory / "added_tokens.json").exists():
        added.update({i: t for t, i in json.loads((directory / "added_tokens.json").read_text(encoding="utf-8")).items()})
    for token, i in list(vocab.items()) + [(t, i) for i, t in added.items()]:
        if 0 <= i < size and tokens[i] is None:
            tokens[i] = token
    names = [t if t is not None else f"<unused{i}>" for i, t in enumerate(tokens)]
    pad = _token_content(tok_cfg.get("pad_token")) or "<pad>"
    blank = hf_config.get("pad_token_id")
    if blank is None or not 0 <= blank < size:
        blank = names.index(pad) if pad in names else 0
    return names, blank, _token_content(tok_cfg.get("word_delimiter_token")) or "|"


def _attach_tokenizer(model: Model, directory: Path, hf_config: dict[str, Any]) -> None:
    """Give ``model`` its character tokenizer, moving transformers' blank to class 0 (speechssl's
    blank) by permuting the head's rows: argmax and every decoded text stay the same."""
    names, blank, delimiter = read_hf_vocab(directory, hf_config)
    if delimiter not in names:
        return  # not a character vocabulary speechssl can decode; the model still loads
    order = [blank] + [i for i in range(len(names)) if i != blank]
    with torch.no_grad():
        model.ctc_head.weight.copy_(model.ctc_head.weight[order])
        model.ctc_head.bias.copy_(model.ctc_head.bias[order])
    from speechssl.text.normalize import TextNormalizer

    # transformers' tokenizer keeps case and punctuation as the vocabulary has them.
    model.tokenizer = CharTokenizer([names[i] for i in order], delimiter, TextNormalizer(case="keep", remove_punctuation=False))


def hf_vocab_of(tokenizer: CharTokenizer) -> dict[str, int]:
    """speechssl tokens -> vocab.json, blank named ``<pad>`` (fairseq's ``<s>``/``<pad>`` swap
    places, as in transformers' own fairseq port)."""
    names = list(tokenizer.tokens)
    if names[0] != "<pad>" and "<pad>" in names:
        j = names.index("<pad>")
        names[0], names[j] = names[j], names[0]
    else:
        names[0] = "<pad>"
    return {t: i for i, t in enumerate(names)}


def save_huggingface(model: Model, directory: str | os.PathLike) -> Path:
    """Write ``model`` as a transformers directory that ``from_pretrained`` loads; a CTC model's
    character tokenizer becomes ``vocab.json`` + ``tokenizer_config.json`` (Wav2Vec2CTCTokenizer)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kind = model_kind(model)
    state = to_theirs({k: v.detach().cpu() for k, v in model.state_dict().items()}, RULES[kind], what="speechssl")
    state = {k: v.contiguous() for k, v in state.items()}
    safetensors.torch.save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(config_to_hf(model.cfg, kind), indent=2) + "\n")
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(model.cfg), indent=2) + "\n")
    tokenizer = getattr(model, "tokenizer", None)
    if isinstance(tokenizer, CharTokenizer):
        vocab = hf_vocab_of(tokenizer)
        (directory / "vocab.json").write_text(json.dumps(vocab, indent=2, ensure_ascii=False) + "\n")
        tok_cfg = {
            "tokenizer_class": "Wav2Vec2CTCTokenizer",
            "pad_token": "<pad>",
            "unk_token": tokenizer.tokens[tokenizer.unk] if tokenizer.unk is not None else "<unk>",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "word_delimiter_token": tokenizer.word_boundary,
            "do_lower_case": False,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False) + "\n")
    return directory
