"""Run configurations for the built-in synthetic corpus (``speechssl synthesize``).

Use as ``speechssl pretrain --config recipes/synthetic/configs.py:pretrain_tiny --set data.train_manifest=...``.
"""

import dataclasses

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
    """CTC fine-tuning of the tiny model on the labeled split (~10 min of audio) on a 2-core CPU.

    fairseq's low-resource recipe (tri-stage lr, time and channel masking) scaled to a 96-dim,
    2-layer model and a 1,600-update run of ~15 s batches: a higher lr (3e-3), the encoder frozen
    for the first 100 updates instead of 10k, light masking (0.1 / 0.05 of channel spans 16 wide)
    and speed perturbation in its place. Unlike fairseq, the conv stack is trained after update
    400, at a tenth of the lr: on a 4-hour corpus test CER 34.6 and 34.8 (two fine-tuning seeds)
    against 40.1 frozen, and with the 3-gram LM WER 31.4 and 28.9 against 46.2; at the full lr,
    or at 0.03 from the start, the model stayed on the CTC blank plateau (docs/recognition.md,
    2026-12-06). Twice the updates of
    half-size batches (the same audio) beat 800 of 30 s in 20 % less time: test CER 41.0 and 40.7
    against 42.3 and 42.9 over two fine-tuning seeds of one pretraining; a quarter size lost
    (42.0, slower) (docs/recognition.md, 2026-12-04). What limits the model is voices it has not
    heard, not fitting the labeled minutes: with fairseq-like masking 0.4 / 0.2 train and dev loss
    stayed equal; without augmentation and with masking 0.1 / 0.05 it overfits (train 0.52, dev
    2.0 nats per token); resampling 90 % of utterances by 0.8-1.25 (pitch and formants move with
    the speed, like another voice's) took seed 1's dev CER from 45.3 to 41.2 and seed 2's from
    47.0 to 45.1 at 800 updates (docs/recognition.md, 2026-12-03).
    """
    from speechssl.train.config import AugmentConfig, FinetuneConfig
    from speechssl.train.finetune import split_config

    base = split_config("10m", config.tiny())
    model = config.override(base.model, {
        "transformer.layerdrop": 0.0,
        "transformer.activation_dropout": 0.0,
        "masking.time_prob": 0.1,
        "masking.channel_prob": 0.05,
        "masking.channel_length": 16,
        "feature_encoder.feature_grad_mult": 1.0,
    })
    return RunConfig(
        model=model,
        data=DataConfig(
            train_manifest=f"{corpus}/train_labeled.tsv",
            valid_manifest=f"{corpus}/dev.tsv",
            max_tokens=240_000,
            max_sample_size=None,
            min_sample_size=0,
            num_workers=1,
            augment=AugmentConfig(speed_prob=0.9, speed_range=(0.8, 1.25)),
        ),
        optim=OptimConfig(
            lr=3e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0, schedule="tri_stage",
            max_updates=1600, phase_ratio=(0.1, 0.4, 0.5), final_lr_scale=0.05,
            feature_encoder_lr_scale=0.1,
        ),
        # kept by dev CER: the tiny model's dev WER stays at 95-125, where the lowest WER picked
        # an update-300 checkpoint of dev CER 82 over the final one's 65 (demo run, 2026-12-03)
        finetune=FinetuneConfig(freeze_encoder_updates=100, freeze_feature_encoder_updates=400,
                                best_metric=("cer", "wer", "loss")),
        log_interval=25,
        validate_interval=200,
        save_interval=250,
        collapse_check_after=10**9,
    )


def scratch_tiny(corpus: str = "data/synthetic") -> RunConfig:
    """The from-scratch baseline: ``finetune_tiny`` (data, schedule, updates) from random weights,
    with every weight trained, the conv stack included.

    Until 2026-12-05 the baseline kept ``finetune_tiny``'s frozen conv stack, i.e. a random one:
    test CER 62.3 (seed 0). Training it takes 5:49 instead of 2:57 and gives 31.1, below the
    pretrained model's 41.1, and 33.3 against 40.1 on a 4-hour corpus (docs/recognition.md,
    2026-12-05): a baseline that cannot learn its own front end made pretraining look better than
    it is.
    """
    run = finetune_tiny(corpus)  # its conv stack is trained already, after update 400 at 0.1x the lr
    return dataclasses.replace(
        run,
        optim=dataclasses.replace(run.optim, feature_encoder_lr_scale=1.0),
        finetune=dataclasses.replace(run.finetune, freeze_feature_encoder_updates=0),
    )


def small_model() -> config.Wav2Vec2Config:
    """A 6-layer, 384-dim model (~12M parameters) for the larger setting: BASE's shape at half
    the conv width and half the transformer width and depth."""
    return config.override(config.tiny(), {
        "feature_encoder.conv_layers": ((256, 10, 5),) + ((256, 3, 2),) * 4 + ((256, 2, 2),) * 2,
        "transformer.embed_dim": 384,
        "transformer.num_layers": 6,
        "transformer.num_heads": 6,
        "transformer.ffn_dim": 1536,
        "transformer.pos_conv_kernel": 64,
        "transformer.pos_conv_groups": 16,
        "quantizer.num_groups": 2,
        "quantizer.num_vars": 160,
        "final_dim": 128,
    })


def pretrain_small(corpus: str = "data/synthetic") -> RunConfig:
    """The larger setting (conf/large.sh): ``small_model`` pretrained for 20k updates of ~90 s
    batches, fairseq's dropouts, a GPU (or a long CPU run)."""

    run = pretrain_tiny(corpus)
    return dataclasses.replace(
        run,
        model=config.override(small_model(), {"quantizer.temp_decay": 0.9999}),
        data=dataclasses.replace(run.data, max_tokens=1_400_000, num_workers=4),
        optim=dataclasses.replace(run.optim, lr=1e-3, warmup_updates=2000, max_updates=20_000),
        validate_interval=1000,
        save_interval=1000,
    )


def finetune_small(corpus: str = "data/synthetic") -> RunConfig:
    """Fine-tuning ``small_model`` (conf/large.sh): fairseq's 1h recipe with 4000 updates, plus
    ``finetune_tiny``'s data settings (its speed perturbation included)."""
    run = finetune_tiny(corpus)
    model = config.override(small_model(), {
        "transformer.layerdrop": 0.05,
        "transformer.activation_dropout": 0.1,
        "feature_encoder.feature_grad_mult": 0.0,
        "masking.time_prob": 0.65,
        "masking.channel_prob": 0.25,
        "masking.channel_length": 64,
    })
    return dataclasses.replace(
        run, model=model,
        optim=dataclasses.replace(run.optim, lr=5e-4, max_updates=4000),
        finetune=dataclasses.replace(run.finetune, freeze_encoder_updates=400),
        validate_interval=500, save_interval=500,
    )


def scratch_small(corpus: str = "data/synthetic") -> RunConfig:
    """The larger setting's baseline: ``finetune_small`` from random weights, every weight trained
    (a random conv stack kept frozen cannot learn; ``scratch_tiny`` measured what that costs)."""
    run = finetune_small(corpus)
    return dataclasses.replace(
        run,
        model=config.override(run.model, {"feature_encoder.feature_grad_mult": 1.0}),
        optim=dataclasses.replace(run.optim, feature_encoder_lr_scale=1.0),
        finetune=dataclasses.replace(run.finetune, freeze_feature_encoder_updates=0),
    )


def synthetic_augment():
    """Augmentation for the synthetic corpus (its audio is clean, dry, full-band espeak-ng):
    moderate probabilities, so most utterances get one or two effects and ~1 in 5 stays clean.
    Use as ``dataclasses.replace(run, data=dataclasses.replace(run.data, augment=synthetic_augment()))``."""
    from speechssl.train.config import AugmentConfig

    return AugmentConfig(
        speed_prob=0.5, speed_range=(0.9, 1.1),
        reverb_prob=0.3, reverb_rt60=(0.2, 0.7),
        noise_prob=0.3, babble_prob=0.15, snr_db=(5.0, 25.0),
        telephone_prob=0.1, lowpass_prob=0.15, lowpass_hz=(2_500.0, 6_000.0),
        gain_prob=0.3, gain_db=(-10.0, 6.0),
    )
