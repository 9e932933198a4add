"""Run configurations of the Common Voice recipe (any language of a release).

The wav2vec 2.0 paper has no Common Voice experiment; this follows its recipe: BASE
pretraining on the language's unlabeled pool (every validated and "other" clip outside dev
and test, spec §6 values), or a multilingual checkpoint given as INIT_MODEL (XLSR-53 as the
XLSR paper does), then fairseq's 10h fine-tuning values (spec §7.2) on the release's train
split. Transcripts arrive normalized by ``speechssl prepare commonvoice`` (lower case, no
punctuation), so the tokenizer keeps them as they are.
"""

import dataclasses

from speechssl.train.config import RunConfig, base_pretraining
from speechssl.train.finetune import split_config

DATA = "data/commonvoice"


def pretrain_base() -> RunConfig:
    return base_pretraining(f"{DATA}/unlabeled.tsv", f"{DATA}/dev.tsv")


def finetune() -> RunConfig:
    run = split_config("10h")
    return dataclasses.replace(
        run,
        data=dataclasses.replace(run.data, train_manifest=f"{DATA}/train.tsv", valid_manifest=f"{DATA}/dev.tsv",
                                 num_workers=4),
        finetune=dataclasses.replace(run.finetune, text_case="keep"),
    )
