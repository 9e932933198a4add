# wav2vec 2.0 BASE as in the paper: pretrain on LibriSpeech 960 h, fine-tune on Libri-light's
# 10 min / 1 h / 10 h and on train-clean-100, decode greedy and with the official 4-gram.
CORPUS_DIR=data/corpora/librispeech      # download target; holds LibriSpeech/ and librispeech_finetuning/
DATA=data/librispeech                    # manifests written by stage 1
DOWNLOAD="train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other librilight-finetuning 4-gram"
LIBRILIGHT_FOLD=0                        # which of the six 1 h folds is the 10-minute split
NUM_GPUS=8                               # update_freq is scaled so any count sees the reference batch
PRETRAIN_CONFIG=recipes/librispeech/configs.py:pretrain_base_960h
PRETRAIN_MANIFEST=train-960
PRETRAIN_SET=""
FINETUNE_SPLITS="10min 1h 10h 100h"      # add 960h for the full-supervision row
FINETUNE_CONFIG=recipes/librispeech/configs.py:finetune_{split}
FINETUNE_SET=""
EVAL_SETS="dev-clean dev-other test-clean test-other"
LM=openslr                               # openslr: the official 4-gram; build: estimate one from LM_TEXT
LM_ORDER=4
LM_TEXT=""
BEAM_SIZE=500                            # the paper: beam 500 while tuning, 1500 for its test numbers
LM_WEIGHT=2.0                            # the paper's sweep centre (tuned per split on dev-other)
WORD_SCORE=-1.0
SEED=1
