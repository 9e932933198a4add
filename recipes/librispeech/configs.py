"""Run configurations of the LibriSpeech recipe: the wav2vec 2.0 paper's BASE experiments.

Every value is fairseq's (spec §6 pretraining, §7.2 fine-tuning per split) for one process;
``run.sh`` divides ``optim.update_freq`` by the number of GPUs, so N GPUs see the reference
batch: pretraining 64 GPU-batches of 1.4M samples (1.6 h of audio) per update, fine-tuning 8
GPU-batches of 3.2M samples (1600 s).

Use as ``speechssl pretrain --config recipes/librispeech/configs.py:pretrain_base_960h``.
"""

import dataclasses

from speechssl.train.config import RunConfig, base_pretraining
from speechssl.train.finetune import split_config

DATA = "data/librispeech"  # what `speechssl prepare librispeech --output-dir` wrote; run.sh passes its own


def _pretrain(train_manifest: str) -> RunConfig:
    return base_pretraining(f"{DATA}/{train_manifest}.tsv", f"{DATA}/dev-other.tsv")


def pretrain_base_960h() -> RunConfig:
    """BASE on all 960 h (paper: 64 V100 x 1.6 days, 400k updates)."""
    return _pretrain("train-960")


def pretrain_base_100h() -> RunConfig:
    """BASE on train-clean-100 only: the same schedule on a tenth of the audio (a data-scale study;
    each update costs as much as with 960 h, so lower max_updates to make it cheaper)."""
    return _pretrain("train-clean-100")


def _finetune(split: str, train_manifest: str) -> RunConfig:
    run = split_config(split)
    return dataclasses.replace(
        run,
        data=dataclasses.replace(run.data, train_manifest=f"{DATA}/{train_manifest}.tsv",
                                 valid_manifest=f"{DATA}/dev-other.tsv", num_workers=4),
        finetune=dataclasses.replace(run.finetune, dictionary=f"{DATA}/dict.ltr.txt"),
    )


def finetune_10min() -> RunConfig:
    return _finetune("10m", "train-10min")


def finetune_1h() -> RunConfig:
    return _finetune("1h", "train-1h")


def finetune_10h() -> RunConfig:
    return _finetune("10h", "train-10h")


def finetune_100h() -> RunConfig:
    return _finetune("100h", "train-clean-100")


def finetune_960h() -> RunConfig:
    return _finetune("960h", "train-960")
