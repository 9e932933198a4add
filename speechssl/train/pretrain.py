"""Contrastive pretraining: the :class:`~speechssl.train.trainer.Task` for wav2vec 2.0."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from speechssl.model import Wav2Vec2ForPretraining
from speechssl.train.config import RunConfig

LN2 = math.log(2.0)


class PretrainTask:
    best_metric = "contrastive_bits"  # the paper keeps the checkpoint with the lowest validation L_m

    def __init__(self, cfg: RunConfig, init_state: dict[str, torch.Tensor] | None = None):
        self.cfg, self.init_state = cfg, init_state

    def build_model(self, cfg: RunConfig) -> nn.Module:
        model = Wav2Vec2ForPretraining(cfg.model)
        if self.init_state is not None:  # continued pretraining (speechssl/train/continued.py)
            model.load_state_dict(self.init_state, strict=True)
        return model

    def loss(self, model, batch: dict, num_updates: int, keys: torch.Tensor):
        out = model(
            batch["audio"], batch["audio_lens"], num_updates=num_updates, utterance_keys=keys,
            # validation scores one mask per utterance, so runs with any M compare
            mask_copies=self.cfg.pretrain.mask_copies if model.training else 1,
        )
        temperature = self.cfg.model.quantizer.temperature(num_updates)
        stats = {
            "loss": out.loss,
            "contrastive": out.contrastive_loss,
            "diversity": out.diversity_loss,
            "feature_penalty": out.feature_penalty,
            "num_correct": out.num_correct,
            "num_frames": out.num_frames,
            "neg_is_pos": out.neg_is_pos,
            "code_perplexity": out.code_perplexity,
            "prob_perplexity": out.prob_perplexity,
            "temperature": torch.tensor(temperature),
        }
        return out.loss, out.num_masked.float(), stats

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["sample_size"], 1.0)
        batches = max(sums["micro_batches"], 1.0)
        return {
            "loss_bits": sums["loss"] / n / LN2,
            "contrastive_bits": sums["contrastive"] / n / LN2,
            "diversity": sums["diversity"] / n,
            "feature_penalty": sums["feature_penalty"] / n,
            "accuracy": sums["num_correct"] / n,
            "code_perplexity": sums["code_perplexity"] / batches,
            "prob_perplexity": sums["prob_perplexity"] / batches,
            "temperature": sums["temperature"] / batches,
            "masked_fraction": sums["sample_size"] / max(sums["num_frames"], 1.0),
            "neg_is_pos_rate": sums["neg_is_pos"] / (n * self.cfg.model.num_negatives),
            "masked_frames": sums["sample_size"],
        }

    def check_health(self, metrics: dict[str, float], step: int) -> list[str]:
        m = self.cfg.model
        chance = math.log2(m.num_negatives + 1)
        codes = m.quantizer.num_groups * m.quantizer.num_vars
        warnings = []
        if metrics["contrastive_bits"] > chance - 0.1:
            warnings.append(
                f"contrastive loss {metrics['contrastive_bits']:.3f} bits sits at chance ({chance:.3f} = log2(K+1)): "
                "the model is not learning; lower the lr or raise the batch (fairseq#3661)"
            )
        if metrics["code_perplexity"] < max(2.0, 0.01 * codes):
            warnings.append(
                f"code perplexity collapsed to {metrics['code_perplexity']:.2f} of {codes} codes: "
                "negatives equal their targets (fairseq#3735); keep the diversity loss, lower the lr"
            )
        if metrics["neg_is_pos_rate"] > 0.5:
            warnings.append(f"{metrics['neg_is_pos_rate']:.0%} of negatives share their target's code: codebook collapse")
        return warnings


def pretrain(
    cfg: RunConfig, output_dir: str | Path, *, resume: bool = False, progress: bool = True, stop_after: int | None = None,
    init: str | Path | None = None, restart_temperature: bool = False,
) -> dict[str, float]:
    """Run (or resume) pretraining; returns the last logged training metrics.

    ``init`` continues pretraining from a pretrained model (any reference speechssl.models
    resolves; architecture from it, recipe from ``cfg``); ``restart_temperature`` runs the
    Gumbel temperature schedule from its start instead of holding it at its floor.
    """
    from speechssl.train.trainer import Trainer

    init_state = None
    if init:
        from speechssl.train.continued import continue_from

        cfg, init_state = continue_from(init, cfg, restart_temperature=restart_temperature)
    trainer = Trainer(cfg, PretrainTask(cfg, init_state), output_dir, resume=resume, progress=progress)
    if init_state is not None and trainer.step == 0 and trainer.valid_data is not None:
        trainer.validate()  # logged at update 0: where the continued model starts
    return trainer.train(stop_after=stop_after)
