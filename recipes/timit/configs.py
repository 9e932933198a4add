"""Run configurations of the TIMIT recipe: phone recognition with CTC on 39 folded phones.

The wav2vec 2.0 paper fine-tunes on TIMIT "like 10h, with no language model" (spec §7.2):
fairseq's 10h BASE values (20k updates, lr 5e-5, tri-stage, encoder frozen for 10k
updates) with whitespace-separated phone units instead of letters.
"""

import dataclasses

from speechssl.train.finetune import split_config

DATA = "data/timit"


def finetune_phones():
    run = split_config("10h")
    return dataclasses.replace(
        run,
        data=dataclasses.replace(run.data, train_manifest=f"{DATA}/train.tsv", valid_manifest=f"{DATA}/dev.tsv",
                                 num_workers=4),
        # phones are lower-case symbols (ax-h folds to ah, so no punctuation survives): keep them as they are
        finetune=dataclasses.replace(run.finetune, tokenizer="unit", text_case="keep", remove_punctuation=False),
    )
