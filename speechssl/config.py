"""Model configuration: frozen nested dataclasses, presets and a plain-dict form.

Every field names its fairseq counterpart (``wav2vec2.py`` dataclass) so a reader can check a
preset against ``shared/reference/wav2vec2-fairseq-spec.md`` §1. A config is immutable; derive
variants with :func:`dataclasses.replace` or :func:`override`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

ConvSpec = tuple[tuple[int, int, int], ...]  # (channels, kernel, stride) per conv layer

# fairseq's default `conv_feature_layers`: [(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2
WAV2VEC2_CONV_LAYERS: ConvSpec = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass(frozen=True)
class FeatureEncoderConfig:
    """The convolutional waveform encoder."""

    conv_layers: ConvSpec = WAV2VEC2_CONV_LAYERS  # conv_feature_layers
    # "group": GroupNorm (per channel, over time) after conv 0 only; "layer": LayerNorm after
    # every conv (extractor_mode default | layer_norm).
    norm: Literal["group", "layer"] = "group"
    conv_bias: bool = False  # conv_bias
    # Scales the gradient reaching the conv stack; 0 freezes it (runs under no_grad).
    feature_grad_mult: float = 0.1  # feature_grad_mult

    def __post_init__(self) -> None:
        if self.norm not in ("group", "layer"):
            raise ValueError(f"feature_encoder.norm must be 'group' or 'layer', got {self.norm!r}")
        if not self.conv_layers:
            raise ValueError("feature_encoder.conv_layers must not be empty")
        object.__setattr__(self, "conv_layers", tuple(tuple(int(v) for v in c) for c in self.conv_layers))

    @property
    def output_dim(self) -> int:
        return self.conv_layers[-1][0]

    @property
    def stride(self) -> int:
        """Samples per output frame (320 for wav2vec 2.0)."""
        total = 1
        for _, _, s in self.conv_layers:
            total *= s
        return total

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame (400 for wav2vec 2.0): the shortest valid input."""
        field_size, jump = 1, 1
        for _, k, s in self.conv_layers:
            field_size += (k - 1) * jump
            jump *= s
        return field_size


@dataclass(frozen=True)
class TransformerConfig:
    """The context network."""

    embed_dim: int = 768  # encoder_embed_dim
    num_layers: int = 12  # encoder_layers
    num_heads: int = 12  # encoder_attention_heads (the paper says 8; fairseq runs 12)
    ffn_dim: int = 3072  # encoder_ffn_embed_dim
    layer_norm_first: bool = False  # False: post-LN (BASE); True: pre-LN + final LN (LARGE)
    pos_conv_kernel: int = 128  # conv_pos
    pos_conv_groups: int = 16  # conv_pos_groups
    dropout: float = 0.1  # dropout (residual branches and after the positional conv)
    attention_dropout: float = 0.1  # attention_dropout
    activation_dropout: float = 0.0  # activation_dropout
    layerdrop: float = 0.05  # encoder_layerdrop
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.embed_dim % self.pos_conv_groups:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by pos_conv_groups {self.pos_conv_groups}")
        if not 0.0 <= self.layerdrop < 1.0:
            raise ValueError(f"layerdrop must be in [0, 1), got {self.layerdrop}")


@dataclass(frozen=True)
class QuantizerConfig:
    """Gumbel product quantizer of the (normalized) conv features."""

    num_groups: int = 2  # latent_groups (G)
    num_vars: int = 320  # latent_vars (V, entries per group)
    # Width of the concatenated code vector; 0 means "final_dim" as in fairseq's latent_dim=0.
    dim: int = 0  # latent_dim
    temp_start: float = 2.0  # latent_temp[0]
    temp_end: float = 0.5  # latent_temp[1]
    temp_decay: float = 0.999995  # latent_temp[2], per update

    def temperature(self, num_updates: int) -> float:
        """fairseq's schedule: ``max(start * decay**num_updates, end)``."""
        return max(self.temp_start * self.temp_decay**num_updates, self.temp_end)


@dataclass(frozen=True)
class MaskingConfig:
    """Span masking over time (pretraining and fine-tuning) and channels (fine-tuning)."""

    time_prob: float = 0.65  # mask_prob: expected span starts = time_prob * frames / time_length
    time_length: int = 10  # mask_length (M)
    time_min_masks: int = 2  # min_masks; >= 2 so every utterance has a negative to draw
    channel_prob: float = 0.0  # mask_channel_prob
    channel_length: int = 10  # mask_channel_length
    channel_min_masks: int = 0


@dataclass(frozen=True)
class Wav2Vec2Config:
    """A whole wav2vec 2.0 model: encoder, pretraining heads and losses, CTC head size."""

    feature_encoder: FeatureEncoderConfig = field(default_factory=FeatureEncoderConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    final_dim: int = 256  # final_dim: the space where context and targets are compared
    dropout_input: float = 0.1  # dropout_input (on the projected features, encoder input)
    dropout_features: float = 0.1  # dropout_features (on the quantizer input)
    num_negatives: int = 100  # num_negatives (K)
    logit_temp: float = 0.1  # logit_temp (kappa)
    diversity_weight: float = 0.1  # loss_weights[0]
    feature_penalty_weight: float = 10.0  # loss_weights[1]
    # Per-utterance zero-mean unit-variance waveform (fairseq task.normalize). Must match
    # between pretraining and fine-tuning; goes with the layer-norm extractor.
    normalize_waveform: bool = False
    final_dropout: float = 0.0  # CTC head input dropout (fairseq final_dropout)
    vocab_size: int = 0  # CTC output classes incl. blank (0: no CTC head configured)

    def __post_init__(self) -> None:
        if self.quantizer_dim % self.quantizer.num_groups:
            raise ValueError(
                f"quantizer dim {self.quantizer_dim} is not divisible by num_groups {self.quantizer.num_groups}"
            )
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives}")

    @property
    def quantizer_dim(self) -> int:
        return self.quantizer.dim if self.quantizer.dim > 0 else self.final_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Wav2Vec2Config":
        return dataclass_from_dict(cls, data)


def dataclass_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a (nested) dataclass from a plain dict, rejecting unknown keys by name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = dataclass_from_dict(hint, value)
        elif isinstance(value, list):
            value = _to_tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def override(config: Any, overrides: dict[str, Any]) -> Any:
    """Return ``config`` with dotted-path overrides applied, e.g. ``{"transformer.num_layers": 4}``."""
    for path, value in overrides.items():
        config = _replace_path(config, path.split("."), value, path)
    return config


def _replace_path(obj: Any, parts: list[str], value: Any, path: str) -> Any:
    head = parts[0]
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        raise ValueError(f"unknown config key {path!r}")
    if len(parts) > 1:
        value = _replace_path(getattr(obj, head), parts[1:], value, path)
    elif isinstance(value, list):
        value = _to_tuple(value)
    return dataclasses.replace(obj, **{head: value})


# --------------------------------------------------------------------------------------------
# Presets


def base() -> Wav2Vec2Config:
    """fairseq BASE (wav2vec2_base_librispeech.yaml): 95.0M parameters with pretraining heads."""
    return Wav2Vec2Config()


def large() -> Wav2Vec2Config:
    """fairseq LARGE LV-60k (wav2vec2_large_librivox.yaml, the HEAD recipe): 317.4M parameters.

    Layer-norm extractor with conv bias, pre-LN transformer, normalized waveform, no dropout.
    """
    return Wav2Vec2Config(
        feature_encoder=FeatureEncoderConfig(norm="layer", conv_bias=True, feature_grad_mult=1.0),
        transformer=TransformerConfig(
            embed_dim=1024,
            num_layers=24,
            num_heads=16,
            ffn_dim=4096,
            layer_norm_first=True,
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
            layerdrop=0.0,
        ),
        quantizer=QuantizerConfig(temp_end=0.1),
        final_dim=768,
        dropout_input=0.0,
        dropout_features=0.0,
        feature_penalty_weight=0.0,
        normalize_waveform=True,
    )


def tiny() -> Wav2Vec2Config:
    """A BASE-shaped model small enough for tests and CPU demos (about 0.3M parameters)."""
    return Wav2Vec2Config(
        feature_encoder=FeatureEncoderConfig(
            conv_layers=((64, 10, 5),) + ((64, 3, 2),) * 4 + ((64, 2, 2),) * 2,
        ),
        transformer=TransformerConfig(
            embed_dim=96, num_layers=2, num_heads=4, ffn_dim=256, pos_conv_kernel=16, pos_conv_groups=4, layerdrop=0.0
        ),
        quantizer=QuantizerConfig(num_groups=2, num_vars=32),
        final_dim=64,
    )


PRESETS = {"tiny": tiny, "base": base, "large": large}


def preset(name: str) -> Wav2Vec2Config:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
