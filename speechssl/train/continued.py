"""Continued pretraining: start contrastive training from a pretrained checkpoint.

The architecture and every weight (encoder, quantizer codebook and weight projection,
``project_q``, ``final_proj``) come from the checkpoint; the recipe (dropouts, layerdrop,
masking, negatives, loss weights, Gumbel temperature) from the run config, and the optimizer
starts fresh. The Gumbel temperature continues at the run's floor (``temp_end``) by default:
the checkpoint's codebook was trained down to it, and re-heating it to ``temp_start`` would
scramble the code assignments the model has learned to predict.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch

from speechssl.config import Wav2Vec2Config
from speechssl.models import ModelError, load_model
from speechssl.train.config import RunConfig
from speechssl.train.finetune import with_run_regularization

log = logging.getLogger("speechssl.train")


def pretraining_model_config(pretrained: Wav2Vec2Config, run: Wav2Vec2Config, restart_temperature: bool = False) -> Wav2Vec2Config:
    """The pretrained architecture with the run's pretraining recipe (what fairseq's config
    calls regularization, masking and criterion); waveform normalization follows the checkpoint."""
    q = run.quantizer
    temp_start = q.temp_start if restart_temperature else q.temp_end
    return with_run_regularization(
        pretrained,
        run,
        quantizer=dataclasses.replace(pretrained.quantizer, temp_start=temp_start, temp_end=q.temp_end, temp_decay=q.temp_decay),
        dropout_features=run.dropout_features,
        num_negatives=run.num_negatives,
        logit_temp=run.logit_temp,
        diversity_weight=run.diversity_weight,
        feature_penalty_weight=run.feature_penalty_weight,
    )


def continue_from(
    reference: str | os.PathLike, cfg: RunConfig, *, restart_temperature: bool = False
) -> tuple[RunConfig, dict[str, torch.Tensor]]:
    """-> (the run config with the checkpoint's architecture, the weights to start from).

    ``reference`` is anything :func:`speechssl.models.load_model` reads; it must hold the
    pretraining heads, so a fine-tuned (CTC) or encoder-only model is refused with the reason.
    """
    from speechssl.model import Wav2Vec2ForCTC, Wav2Vec2ForPretraining

    model = load_model(reference)
    if isinstance(model, Wav2Vec2ForCTC):
        raise ModelError(
            f"{reference}: a fine-tuned CTC model: fine-tuning dropped the quantizer, project_q and final_proj that "
            "contrastive pretraining needs; continue from the pretraining checkpoint it was fine-tuned from"
        )
    if not isinstance(model, Wav2Vec2ForPretraining):
        raise ModelError(
            f"{reference}: an encoder without the pretraining heads (quantizer, project_q, final_proj) that contrastive "
            "pretraining continues from; use a Wav2Vec2ForPreTraining / fairseq pretraining checkpoint"
        )
    if cfg.model.normalize_waveform != model.cfg.normalize_waveform:
        log.info("waveform normalization follows the pretrained model: %s", model.cfg.normalize_waveform)
    model_cfg = pretraining_model_config(model.cfg, cfg.model, restart_temperature)
    log.info("continuing pretraining from %s (Gumbel temperature %s)", reference,
             f"restarts at {model_cfg.quantizer.temp_start}" if restart_temperature else f"stays at {model_cfg.quantizer.temp_end}")
    return dataclasses.replace(cfg, model=model_cfg), model.state_dict()
