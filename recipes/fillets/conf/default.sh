# Fish Fillets NG's Czech dialogue on a 2-core CPU. Measured 2026-12-05 (README, 2-core Intel
# Xeon VM): the default stages in 36:32 after unpacking - prepare 0:20, pretraining 9:24 (~97
# audio-s/s), continued pretraining 3:21, eight fine-tunings of 1,600 updates of ~15 s batches
# 21:32 (2.1-3.2 min each), evaluation 1:55. The 2-core AMD VM of 2026-12-03 ran these stages
# about half as fast (30 s batches then: 60:15 with 800 fine-tuning updates).
SOURCE=data/corpora/fillets/tree       # where tools/fetch_fillets.sh unpacked the two packages
LANGUAGE=cs                            # any language voiced in the same layout (nl: fillets-ng-data-nl)
DATA=data/fillets/$LANGUAGE            # manifests and 16 kHz flac written by stage 0
SEED=0
TRAIN_MINUTES=10                       # train_10min: ~10 labeled minutes of the main voices
DEV_MINUTES=4                          # held-out lines of the main voices
TEST_MINUTES=4
SYNTHETIC_PRETRAINED=exp/synthetic/pretrain   # the synthetic recipe's pretraining run (transfer from synthetic English)
PRETRAIN_CONFIG=recipes/fillets/configs.py:pretrain
PRETRAIN_SET="optim.max_updates=2000 validate_interval=500"        # ~9.5 min
CONTINUE_SET="optim.max_updates=750 validate_interval=250"          # ~3.5 min, from the synthetic checkpoint
FINETUNE_CONFIG=recipes/fillets/configs.py:finetune_{amount}
SCRATCH_CONFIG=recipes/fillets/configs.py:scratch_{amount}   # every weight trained, ~30 s batches
AMOUNTS="10min all_labeled"
SYSTEMS="ssl scratch synthetic synthetic_continued"
FINETUNE_SET_10min="optim.max_updates=1600 validate_interval=200"   # ~2.5 min each (2026-12-05)
FINETUNE_SET_all_labeled="optim.max_updates=1600 validate_interval=200"  # ~2.5 min each
EVAL_SETS="test test_other_speakers"
LM_ORDER=3
LM_SYSTEMS="ssl synthetic_continued"   # also decoded with the n-gram LM (beam search)
BEAM_SIZE=50
LM_WEIGHT=1.0
WORD_SCORE=2.0
