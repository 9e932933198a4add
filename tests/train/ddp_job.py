"""Run by test_distributed.py: train, then write this rank's weights (torchrun or plain python)."""

import os
import sys

import safetensors.torch

from speechssl.testing import augment_everything, tiny_finetune_config, tiny_run_config
from speechssl.train.pretrain import PretrainTask
from speechssl.train.trainer import Trainer

corpus, output, update_freq, max_tokens, task = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
augment = augment_everything(sys.argv[6]) if len(sys.argv) > 6 else {}  # argv[6]: a noise folder
no_randomness = {  # the same utterances must see the same computation in both runs
    "model.transformer.dropout": 0.0,
    "model.transformer.attention_dropout": 0.0,
    "model.transformer.activation_dropout": 0.0,
    "model.dropout_input": 0.0,
    "model.transformer.layerdrop": 0.5,  # shared decisions: seeded by the update number
}
run = {"optim.update_freq": update_freq, "optim.max_updates": 3, "data.max_tokens": max_tokens,
       "data.valid_manifest": "", "save_interval": 100, **augment}
if task == "pretrain":
    # diversity: a statistic of each process's batch, as in fairseq
    cfg = tiny_run_config(corpus, **no_randomness, **run, **{"model.dropout_features": 0.0, "model.diversity_weight": 0.0})
    trainer = Trainer(cfg, PretrainTask(cfg), output, progress=False)
else:  # CTC fine-tuning from scratch; masks stay on (keyed per utterance); the encoder thaws after update 1
    import dataclasses

    from speechssl.train.finetune import CTCTask, finetuning_model_config, prepare_tokenizer

    cfg = tiny_finetune_config(corpus, **no_randomness, **run, **{"finetune.freeze_encoder_updates": 1})
    tokenizer = prepare_tokenizer(cfg, output)
    cfg = dataclasses.replace(cfg, model=finetuning_model_config(cfg.model, cfg.model, len(tokenizer)))
    trainer = Trainer(cfg, CTCTask(cfg, tokenizer), output, progress=False)
model = trainer.model
trainer.train()
rank = int(os.environ.get("RANK", 0))
safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(output, f"rank{rank}.safetensors"))
