# The default setting: a 2-core CPU, under 30 minutes end to end (README's first command).
HOURS=2                  # synthesized speech (nominal; espeak's actual durations come out ~17% shorter)
LABELED_FRACTION=0.1     # share with transcripts, for fine-tuning (~10 minutes)
DEV_FRACTION=0.05
TEST_FRACTION=0.05       # held-out voices, never seen in any training
SEED=0
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
FINETUNE_CONFIG=recipes/synthetic/configs.py:finetune_tiny
SCRATCH_CONFIG=recipes/synthetic/configs.py:scratch_tiny
# extra --set overrides: multi-mask pretraining (2 masked copies per utterance, the conv front end
# once) for 2000 updates: 4000 masked views of each batch in the time 2500 single-mask updates took
PRETRAIN_SET="optim.max_updates=2000 validate_interval=500 pretrain.mask_copies=2"
FINETUNE_SET=""
LM_ORDER=3
BEAM_SIZE=50
LM_WEIGHT=1.0            # chosen on the dev split (lm weight 1, 2, 3 x word score 0, 2; 2026-12-03)
WORD_SCORE=2.0
