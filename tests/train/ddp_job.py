"""Run by test_distributed.py: train, then write this rank's weights (torchrun or plain python)."""

import os
import sys

import safetensors.torch

from speechssl.testing import tiny_run_config
from speechssl.train.pretrain import PretrainTask
from speechssl.train.trainer import Trainer

corpus, output, update_freq, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
no_randomness = {  # the same utterances must see the same computation in both runs
    "model.transformer.dropout": 0.0,
    "model.transformer.attention_dropout": 0.0,
    "model.dropout_input": 0.0,
    "model.dropout_features": 0.0,
    "model.diversity_weight": 0.0,  # a statistic of each process's batch, as in fairseq
    "model.transformer.layerdrop": 0.5,  # shared decisions: seeded by the update number
}
cfg = tiny_run_config(corpus, **no_randomness, **{
    "optim.update_freq": update_freq, "optim.max_updates": 3, "data.max_tokens": max_tokens,
    "data.valid_manifest": "", "save_interval": 100})
trainer = Trainer(cfg, PretrainTask(cfg), output, progress=False)
model = trainer.model
trainer.train()
rank = int(os.environ.get("RANK", 0))
safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(output, f"rank{rank}.safetensors"))
