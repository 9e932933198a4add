# Fish Fillets NG's Czech dialogue on a 2-core CPU. Measured 2026-12-06 (README, idle 2-core
# Intel Xeon VM): the default stages in 46:26 after unpacking - prepare 0:01 (0:20 from the
# unpacked tree), pretraining 7:41 (~118 audio-s/s), continued pretraining 2:41, eight
# fine-tunings of 1,600 updates 34:25 (pretrained systems ~15 s batches, 3-4 min each; scratch
# ~30 s batches, ~7 min each), evaluation 1:38. The same VM has run ~40 % slower on some days;
# the 2-core AMD VM of 2026-12-03 ran these stages about half as fast.
SOURCE=data/corpora/fillets/tree       # where tools/fetch_fillets.sh unpacked the two packages
LANGUAGE=cs                            # any language voiced in the same layout (nl: fillets-ng-data-nl)
DATA=data/fillets/$LANGUAGE            # manifests and 16 kHz flac written by stage 0
SEED=0
TRAIN_MINUTES=10                       # train_10min: ~10 labeled minutes of the main voices
DEV_MINUTES=4                          # held-out lines of the main voices
TEST_MINUTES=4
SYNTHETIC_PRETRAINED=exp/synthetic/pretrain   # the synthetic recipe's pretraining run (transfer from synthetic English)
PRETRAIN_CONFIG=recipes/fillets/configs.py:pretrain
PRETRAIN_SET="optim.max_updates=2000 validate_interval=500"        # ~8 min
CONTINUE_SET="optim.max_updates=750 validate_interval=250"          # ~3 min, from the synthetic checkpoint
FINETUNE_CONFIG=recipes/fillets/configs.py:finetune_{amount}
SCRATCH_CONFIG=recipes/fillets/configs.py:scratch_{amount}   # every weight trained, ~30 s batches
AMOUNTS="10min all_labeled"
SYSTEMS="ssl scratch synthetic synthetic_continued"
FINETUNE_SET_10min="optim.max_updates=1600 validate_interval=200"
FINETUNE_SET_all_labeled="optim.max_updates=1600 validate_interval=200"
EVAL_SETS="test test_other_speakers"
LM_ORDER=3
LM_SYSTEMS="ssl synthetic_continued"   # also decoded with the n-gram LM (beam search)
BEAM_SIZE=50
LM_WEIGHT=1.0
WORD_SCORE=2.0
