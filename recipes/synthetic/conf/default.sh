# The default setting: a 2-core CPU, under 30 minutes end to end (README's first command).
HOURS=2                  # synthesized speech (nominal; espeak's actual durations come out ~17% shorter)
LABELED_FRACTION=0.1     # share with transcripts, for fine-tuning (~10 minutes)
DEV_FRACTION=0.05
TEST_FRACTION=0.05       # held-out voices, never seen in any training
SEED=0
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
FINETUNE_CONFIG=recipes/synthetic/configs.py:finetune_tiny
SCRATCH_CONFIG=recipes/synthetic/configs.py:scratch_tiny
PRETRAIN_SET=""          # extra --set overrides, e.g. "optim.max_updates=500"
FINETUNE_SET=""
LM_ORDER=3
BEAM_SIZE=50
LM_WEIGHT=1.0
WORD_SCORE=0.0
