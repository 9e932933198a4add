# Fish Fillets NG's Czech dialogue on a 2-core CPU. Measured 2026-12-03 (README): pretraining
# ~54 audio-s/s (2,000 updates 17 min), continued pretraining 750 updates 8 min. Fine-tuning
# (configs.py: the synthetic recipe's finetune_tiny, now with speed perturbation) 1,600 updates
# on 10min ~10.5 min each, 1,000 on all_labeled ~5 min (estimated: 3.7 min before the
# augmentation). 800 updates left every model on the CTC blank plateau, so 10min gets 1,600; the
# default stages then take ~90 min, over the 60 budgeted (README: what was measured).
SOURCE=data/corpora/fillets/tree       # where tools/fetch_fillets.sh unpacked the two packages
LANGUAGE=cs                            # any language voiced in the same layout (nl: fillets-ng-data-nl)
DATA=data/fillets/$LANGUAGE            # manifests and 16 kHz flac written by stage 0
SEED=0
TRAIN_MINUTES=10                       # train_10min: ~10 labeled minutes of the main voices
DEV_MINUTES=4                          # held-out lines of the main voices
TEST_MINUTES=4
SYNTHETIC_PRETRAINED=exp/synthetic/pretrain   # the synthetic recipe's pretraining run (transfer from synthetic English)
PRETRAIN_CONFIG=recipes/fillets/configs.py:pretrain
PRETRAIN_SET="optim.max_updates=2000 validate_interval=500"        # ~15 min
CONTINUE_SET="optim.max_updates=750 validate_interval=250"          # ~7 min, from the synthetic checkpoint
FINETUNE_CONFIG=recipes/fillets/configs.py:finetune_{amount}
AMOUNTS="10min all_labeled"
SYSTEMS="ssl scratch synthetic synthetic_continued"
FINETUNE_SET_10min="optim.max_updates=1600 validate_interval=200"   # ~8.4 min each
FINETUNE_SET_all_labeled="optim.max_updates=1000 validate_interval=200"  # ~3.7 min each
EVAL_SETS="test test_other_speakers"
LM_ORDER=3
LM_SYSTEMS="ssl synthetic_continued"   # also decoded with the n-gram LM (beam search)
BEAM_SIZE=50
LM_WEIGHT=1.0
WORD_SCORE=2.0
