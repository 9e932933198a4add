"""Run configurations for the built-in synthetic corpus (``speechssl synthesize``).

Use as ``speechssl pretrain --config recipes/synthetic/configs.py:pretrain_tiny --set data.train_manifest=...``.
"""

from speechssl import config
from speechssl.train.config import DataConfig, OptimConfig, RunConfig


def pretrain_tiny(corpus: str = "data/synthetic") -> RunConfig:
    """The tiny model on a 2-core CPU: ~30 s of audio per update, 3000 updates (~25 min).

    Differences from the BASE recipe, each for a short CPU run: no dropout (the tiny model
    underfits; measured: valid contrastive 5.77 vs 6.11 bits at update 1000 with fairseq's 0.1),
    a 4x higher peak lr with a 200-update warmup, and a Gumbel temperature that reaches its
    floor after ~1400 updates instead of ~277k.
    """
    model = config.override(
        config.tiny(),
        {
            "transformer.dropout": 0.0,
            "transformer.attention_dropout": 0.0,
            "dropout_input": 0.0,
            "dropout_features": 0.0,
            "quantizer.temp_decay": 0.999,
        },
    )
    return RunConfig(
        model=model,
        data=DataConfig(
            train_manifest=f"{corpus}/train_unlabeled.tsv",
            valid_manifest=f"{corpus}/dev.tsv",
            max_tokens=480_000,
            min_sample_size=16_000,
            num_workers=1,
        ),
        optim=OptimConfig(lr=2e-3, warmup_updates=200, max_updates=3000),
        log_interval=50,
        validate_interval=250,
        save_interval=500,
        collapse_check_after=500,
    )


def finetune_tiny(corpus: str = "data/synthetic") -> RunConfig:
    """CTC fine-tuning of the tiny model on the labeled split (~4.5 min of audio) on a 2-core CPU.

    fairseq's low-resource recipe scaled to a 96-dim, 2-layer model and a short run: channel
    spans of 16 (not 64) of the 96 channels, a higher lr for the short schedule, and the
    encoder frozen for the first 10% of updates instead of 10k.
    """
    from speechssl.train.config import FinetuneConfig
    from speechssl.train.finetune import split_config

    base = split_config("10m", config.tiny())
    model = config.override(base.model, {
        "transformer.layerdrop": 0.0,
        "transformer.activation_dropout": 0.0,
        "masking.time_prob": 0.5,
        "masking.channel_prob": 0.25,
        "masking.channel_length": 16,
    })
    return RunConfig(
        model=model,
        data=DataConfig(
            train_manifest=f"{corpus}/train_labeled.tsv",
            valid_manifest=f"{corpus}/dev.tsv",
            max_tokens=480_000,
            max_sample_size=None,
            min_sample_size=0,
            num_workers=1,
        ),
        optim=OptimConfig(
            lr=1e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0, schedule="tri_stage",
            max_updates=1000, phase_ratio=(0.1, 0.4, 0.5), final_lr_scale=0.05,
        ),
        finetune=FinetuneConfig(freeze_encoder_updates=100),
        log_interval=25,
        validate_interval=100,
        save_interval=250,
        collapse_check_after=10**9,
    )


def scratch_tiny(corpus: str = "data/synthetic") -> RunConfig:
    """The from-scratch baseline: ``finetune_tiny``'s data, schedule and updates, but every weight
    trains from the first update (a frozen random conv encoder would be an unfair baseline)."""
    import dataclasses

    run = finetune_tiny(corpus)
    model = config.override(run.model, {"feature_encoder.feature_grad_mult": 1.0})
    return dataclasses.replace(run, model=model, finetune=dataclasses.replace(run.finetune, freeze_encoder_updates=0))
