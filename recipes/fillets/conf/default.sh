# Fish Fillets NG's Czech dialogue on a 2-core CPU: every default stage after the data is
# unpacked (tools/fetch_fillets.sh) in under 60 minutes. Training lengths are budgeted from the
# tiny model's measured rates here: pretraining ~90 audio-s/s, fine-tuning ~120 audio-s/s, at
# ~30 s of audio per update.
SOURCE=data/corpora/fillets/tree       # where tools/fetch_fillets.sh unpacked the two packages
LANGUAGE=cs                            # any language voiced in the same layout (nl: fillets-ng-data-nl)
DATA=data/fillets/$LANGUAGE            # manifests and 16 kHz flac written by stage 0
SEED=0
TRAIN_MINUTES=10                       # train_10min: ~10 labeled minutes of the main voices
DEV_MINUTES=4                          # held-out lines of the main voices
TEST_MINUTES=4
SYNTHETIC_PRETRAINED=exp/synthetic/pretrain   # the synthetic recipe's pretraining run (transfer from synthetic English)
PRETRAIN_CONFIG=recipes/fillets/configs.py:pretrain
PRETRAIN_SET="optim.max_updates=2000 validate_interval=500"        # ~11 min
CONTINUE_SET="optim.max_updates=750 validate_interval=250"          # ~4 min, from the synthetic checkpoint
FINETUNE_CONFIG=recipes/fillets/configs.py:finetune_{amount}
AMOUNTS="10min all_labeled"
SYSTEMS="ssl scratch synthetic synthetic_continued"
FINETUNE_SET_10min="optim.max_updates=800 validate_interval=100"    # ~3.3 min each
FINETUNE_SET_all_labeled="optim.max_updates=1000 validate_interval=200"  # ~4 min each
EVAL_SETS="test test_other_speakers"
LM_ORDER=3
LM_SYSTEMS="ssl synthetic_continued"   # also decoded with the n-gram LM (beam search)
BEAM_SIZE=50
LM_WEIGHT=1.0
WORD_SCORE=2.0
