"""Factories for tests and examples: small configs in each architecture style and padded batches."""

from __future__ import annotations

import torch

from speechssl import config
from speechssl.config import Wav2Vec2Config


def base_style(num_layers: int = 2, **overrides) -> Wav2Vec2Config:
    """BASE architecture (group norm, post-LN, 512-channel conv, 768-dim) with fewer layers."""
    return config.override(config.base(), {"transformer.num_layers": num_layers, **overrides})


def large_style(num_layers: int = 2, **overrides) -> Wav2Vec2Config:
    """LARGE architecture (layer norm + conv bias, pre-LN) at a reduced width."""
    small = {
        "transformer.num_layers": num_layers,
        "transformer.embed_dim": 256,
        "transformer.num_heads": 4,
        "transformer.ffn_dim": 512,
        "final_dim": 128,
    }
    return config.override(config.large(), {**small, **overrides})


def random_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-padded ``(B, max(lengths))`` batch of noise-like audio and its ``(B,)`` lengths."""
    g = torch.Generator().manual_seed(seed)
    waveform = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        waveform[i, :n] = torch.randn(n, generator=g) * 0.1
    return waveform, torch.tensor(lengths)


def tiny_run_config(corpus_dir, **overrides):
    """A pretraining run of the tiny model on a (small) synthetic corpus, sized for tests."""
    from pathlib import Path

    from speechssl.train.config import resolve_run_config

    corpus_dir = Path(corpus_dir)
    base = {
        "data.train_manifest": str(corpus_dir / "train_unlabeled.tsv"),
        "data.valid_manifest": str(corpus_dir / "dev.tsv"),
        "data.max_tokens": 200_000,
        "data.min_sample_size": 8_000,
        "data.num_workers": 0,
        "optim.max_updates": 6,
        "optim.warmup_updates": 2,
        "log_interval": 1,
        "validate_interval": 3,
        "save_interval": 3,
        "keep_last": 2,
    }
    return resolve_run_config("tiny", {**base, **overrides})


def tiny_finetune_config(corpus_dir, **overrides):
    """CTC fine-tuning of the tiny model on a (small) synthetic corpus, sized for tests: trains on
    the dev split (the test corpus's largest labeled one) and validates on the test split."""
    from pathlib import Path

    from speechssl.train.finetune import split_config

    corpus_dir = Path(corpus_dir)
    base = {
        "data.train_manifest": str(corpus_dir / "dev.tsv"),
        "data.valid_manifest": str(corpus_dir / "test.tsv"),
        "data.max_tokens": 200_000,
        "data.num_workers": 0,
        "model.masking.channel_length": 16,
        "optim.max_updates": 4,
        "optim.update_freq": 1,
        "finetune.freeze_encoder_updates": 2,
        "log_interval": 1,
        "validate_interval": 2,
        "save_interval": 2,
        "keep_last": 3,
    }
    return config.override(split_config("10m", config.tiny()), {**base, **overrides})


def augment_everything(noise_dir, prob: float = 0.5) -> dict:
    """Overrides turning every augmentation on at ``prob``; writes the noise file it needs to ``noise_dir``."""
    from pathlib import Path

    import numpy as np
    import soundfile

    noise_dir = Path(noise_dir)
    noise_dir.mkdir(parents=True, exist_ok=True)
    if not (noise_dir / "hum.wav").exists():  # written once: torchrun's ranks may read it meanwhile
        soundfile.write(noise_dir / "hum.wav", np.random.default_rng(0).standard_normal(12_000).astype("float32") * 0.1, 8_000)
    effects = ("speed", "reverb", "noise", "babble", "noise_dir", "telephone", "lowpass", "gain")
    return {**{f"data.augment.{e}_prob": prob for e in effects}, "data.augment.noise_dir": str(noise_dir)}
