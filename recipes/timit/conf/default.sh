# TIMIT phone recognition from a pretrained model (the paper: LARGE pretrained on LibriSpeech).
TIMIT_DIR=data/corpora/timit            # the LDC93S1 release (TRAIN/ and TEST/ inside)
DATA=data/timit
NUM_GPUS=1
INIT_MODEL=exp/librispeech/pretrain     # a speechssl run/model dir, a Hugging Face dir or a fairseq .pt
PRETRAIN_CONFIG=""                      # with INIT_MODEL empty: pretrain on TIMIT's own audio with this config
PRETRAIN_SET=""
FINETUNE_CONFIG=recipes/timit/configs.py:finetune_phones
FINETUNE_SET=""
EVAL_SETS="dev test"                    # dev: the 50-speaker set; test: the 24-speaker core test set
SEED=1
