# One Common Voice language: point LANGUAGE_DIR at cv-corpus-<version>/<lang> of a release.
LANGUAGE_DIR=data/corpora/cv-corpus/en
LANGUAGE=""                               # default: the folder name (en, tr, zh-CN, ...)
DATA=data/commonvoice
FLAC=1                                    # convert the mp3 clips to 16 kHz flac once (faster epochs)
NUM_GPUS=8
INIT_MODEL=""                             # e.g. a converted XLSR-53 checkpoint: skips pretraining
PRETRAIN_CONFIG=recipes/commonvoice/configs.py:pretrain_base
PRETRAIN_SET=""
FINETUNE_CONFIG=recipes/commonvoice/configs.py:finetune
FINETUNE_SET=""
UNITS=auto                                # auto: what prepare recommends (char, or sentencepiece for zh/ja/...)
SP_VOCAB=1000                             # sentencepiece pieces (units=sentencepiece)
LM_ORDER=4                                # word n-gram from LM_TEXT (default: the train transcripts); char units only
LM_TEXT=""
BEAM_SIZE=200
LM_WEIGHT=1.0
WORD_SCORE=0.0
EVAL_SETS="dev test"
SEED=1
