"""Run configuration: the model config plus data, optimization and bookkeeping settings.

A run is a :class:`RunConfig` from a preset or a recipe function plus dotted overrides
(``optim.lr=1e-4``); the resolved config is written to ``<output_dir>/config.json`` and into
every checkpoint. Defaults are fairseq's BASE pretraining recipe (spec §5-6).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from speechssl import config as model_config
from speechssl.config import Wav2Vec2Config, dataclass_from_dict, override


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly augmentation of training audio (speechssl/data/augment.py); every probability 0
    (the default) leaves the audio untouched. Each effect is drawn independently per utterance."""

    speed_prob: float = 0.0  # resample to a speed factor: length / factor, pitch and tempo together
    speed_range: tuple[float, float] = (0.9, 1.1)
    reverb_prob: float = 0.0  # convolve with a simulated shoebox room impulse response
    reverb_rt60: tuple[float, float] = (0.2, 0.7)  # seconds
    reverb_max_order: int = 12  # image-source reflection order: bounds the cost, truncates the tail
    noise_prob: float = 0.0  # generated coloured noise
    noise_colors: tuple[str, ...] = ("white", "pink", "brown")
    babble_prob: float = 0.0  # other utterances of the training corpus, summed
    babble_speakers: tuple[int, int] = (1, 4)
    noise_dir: str = ""  # a folder of noise recordings (e.g. MUSAN's noise/), searched recursively
    noise_dir_prob: float = 0.0
    snr_db: tuple[float, float] = (5.0, 20.0)  # of every additive noise, drawn per utterance and source
    telephone_prob: float = 0.0  # 300-3400 Hz band at 8 kHz with G.711 mu-law companding
    lowpass_prob: float = 0.0  # band-limiting at a drawn cutoff
    lowpass_hz: tuple[float, float] = (2_000.0, 6_000.0)
    gain_prob: float = 0.0
    gain_db: tuple[float, float] = (-12.0, 6.0)

    @property
    def active(self) -> bool:
        return any(p > 0 for p in (self.speed_prob, self.reverb_prob, self.noise_prob, self.babble_prob,
                                   self.noise_dir_prob, self.telephone_prob, self.lowpass_prob, self.gain_prob))


@dataclass(frozen=True)
class DataConfig:
    train_manifest: str = ""
    valid_manifest: str = ""
    max_tokens: int = 1_400_000  # padded samples per batch per process (fairseq max_tokens)
    max_sample_size: int | None = 250_000  # longer utterances are randomly cropped (15.6 s); None: never
    min_sample_size: int = 32_000  # shorter utterances are skipped (2 s)
    max_batch_size: int | None = None
    # training epochs whose batches run shortest first (SortaGrad; 0: every epoch shuffled)
    sorted_epochs: int = 0
    num_workers: int = 1  # DataLoader processes reading audio
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # training batches only


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01  # decoupled (AdamW), on every parameter as in fairseq
    schedule: Literal["polynomial", "tri_stage"] = "polynomial"
    warmup_updates: int = 32_000
    max_updates: int = 400_000
    end_lr: float = 0.0
    power: float = 1.0  # polynomial decay power (1 = linear)
    phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5)  # tri-stage warmup/hold/decay
    init_lr_scale: float = 0.01  # tri-stage
    final_lr_scale: float = 0.05  # tri-stage
    update_freq: int = 1  # micro-batches accumulated per update
    clip_norm: float = 0.0  # 0 disables clipping (fairseq's default for pretraining)
    # lr of the conv feature encoder's parameters relative to the rest. Adam normalizes each
    # parameter's step, so feature_grad_mult (a gradient scale) barely changes how far a trained
    # conv stack moves; this does (discriminative fine-tuning, as SpeechBrain's lr_wav2vec)
    feature_encoder_lr_scale: float = 1.0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"


@dataclass(frozen=True)
class FinetuneConfig:
    """CTC fine-tuning settings (ignored by pretraining)."""

    init_model: str = ""  # pretrained model: speechssl dir or run dir, Hugging Face dir, fairseq .pt; "" = scratch
    freeze_encoder_updates: int = 0  # fairseq freeze_finetune_updates: only the CTC head trains before this
    # the conv stack stays frozen this long even when it is trained (feature_grad_mult > 0): a
    # pretrained model first leaves the CTC blank plateau on a fixed front end, then adapts it
    freeze_feature_encoder_updates: int = 0
    tokenizer: Literal["char", "unit", "sentencepiece"] = "char"  # unit: whitespace-separated phones
    dictionary: str = ""  # fairseq dict.ltr.txt fixing the character classes (else built from the transcripts)
    sentencepiece_vocab_size: int = 256
    sentencepiece_model_type: Literal["unigram", "bpe"] = "unigram"
    text_case: Literal["upper", "lower", "keep"] = "upper"
    remove_punctuation: bool = True
    print_examples: int = 3  # greedy transcripts logged at each validation
    # checkpoints/best: lowest validation WER as fairseq, ties (e.g. every WER 100) broken by CER,
    # then loss; a weak character model whose WER stays near 100 is better judged by CER first
    best_metric: tuple[str, ...] = ("wer", "cer", "loss")


@dataclass(frozen=True)
class PretrainConfig:
    """Contrastive pretraining settings (ignored by fine-tuning)."""

    # M > 1: the conv front end runs once per batch and the transformer on M differently masked
    # copies of every utterance (data2vec 2.0's multi-mask): M x the masked predictions for
    # much less than M x the compute when the conv stack dominates, as in small models.
    mask_copies: int = 1


@dataclass(frozen=True)
class RunConfig:
    model: Wav2Vec2Config = field(default_factory=Wav2Vec2Config)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seed: int = 1
    device: str = "auto"  # auto: cuda when available (the local rank's GPU), else cpu
    log_interval: int = 50
    validate_interval: int = 1000
    save_interval: int = 1000
    keep_last: int = 3  # periodic checkpoints kept besides "best"
    max_nonfinite: int = 10  # consecutive skipped (non-finite) updates before the run stops
    collapse_check_after: int = 1000  # updates before collapse alarms may fire
    # torch.compile the training forward; batches are padded up to compile_buckets lengths so an
    # epoch compiles a bounded number of graphs (speechssl/train/compile.py)
    compile: bool = False
    compile_buckets: int = 8
    compile_backend: str = "inductor"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        return dataclass_from_dict(cls, data)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "data.train_manifest=a.tsv"]`` -> typed dict (Python literals, else str)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def resolve_run_config(spec: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """``spec`` is a model preset name (tiny, base, large), a ``config.json`` written by a run,
    or ``path/to/configs.py:function`` returning a :class:`RunConfig`."""
    if spec in model_config.PRESETS:
        run = RunConfig(model=model_config.preset(spec))
    elif spec.endswith(".json"):
        import json

        run = RunConfig.from_dict(json.loads(Path(spec).read_text()))
    elif ":" in spec:
        path, function = spec.rsplit(":", 1)
        module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        run = getattr(module, function)()
        if not isinstance(run, RunConfig):
            raise ValueError(f"{spec} returned {type(run).__name__}, not RunConfig")
    else:
        raise ValueError(f"unknown config {spec!r}: a preset ({', '.join(model_config.PRESETS)}), a .json, or file.py:function")
    return override(run, overrides or {})


def base_pretraining(train_manifest: str, valid_manifest: str) -> RunConfig:
    """fairseq's BASE pretraining recipe (spec §6) on one process: ``update_freq`` 64 stands for
    its 64 GPUs x 1.4M samples (1.6 h of audio per update); recipes divide it by their GPU count."""
    return RunConfig(
        model=model_config.base(),
        data=DataConfig(train_manifest=train_manifest, valid_manifest=valid_manifest, num_workers=6),
        optim=OptimConfig(update_freq=64),
        validate_interval=5_000,
        save_interval=25_000,
        keep_last=1,
    )
