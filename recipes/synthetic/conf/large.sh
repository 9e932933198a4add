# The larger setting: 20 h of synthetic speech, 1 h labeled, a 12M-parameter model (configs.py:
# small_model), 20k pretraining updates. Meant for a GPU; on a 2-core CPU it takes days.
HOURS=20
LABELED_FRACTION=0.05
DEV_FRACTION=0.02
TEST_FRACTION=0.02
SEED=0
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_small
FINETUNE_CONFIG=recipes/synthetic/configs.py:finetune_small
SCRATCH_CONFIG=recipes/synthetic/configs.py:scratch_small
PRETRAIN_SET=""
FINETUNE_SET=""
LM_ORDER=4
BEAM_SIZE=100
LM_WEIGHT=1.0
WORD_SCORE=2.0
