# The 100 h variant: BASE pretrained on train-clean-100 only, fine-tuned on the same splits.
source recipes/librispeech/conf/default.sh
DOWNLOAD="train-clean-100 dev-clean dev-other test-clean test-other librilight-finetuning 4-gram"
PRETRAIN_CONFIG=recipes/librispeech/configs.py:pretrain_base_100h
PRETRAIN_MANIFEST=train-clean-100
