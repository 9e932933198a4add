"""CTC fine-tuning: the :class:`~speechssl.train.trainer.Task` that turns an encoder into a recognizer.

Faithful to fairseq's ``Wav2VecCtc`` recipe (spec §7): the architecture and weights come
from the pretrained model, the dropouts / masking / layerdrop from the run config; the conv
feature encoder stays frozen (``feature_grad_mult 0``), the whole encoder is frozen for the
first ``finetune.freeze_encoder_updates`` updates, CTC runs in fp32 with ``zero_infinity`` and
is averaged per utterance (``sentence_avg``), and the best checkpoint is kept by validation WER (ties broken by CER, then loss).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from speechssl.config import Wav2Vec2Config, override
from speechssl.data.manifest import Manifest
from speechssl.decoding.greedy import greedy_decode
from speechssl.model import Wav2Vec2ForCTC
from speechssl.text.normalize import TextNormalizer
from speechssl.text.scoring import error_counts
from speechssl.text.tokenizer import Tokenizer, build_tokenizer, tokenizer_from_dict
from speechssl.train.config import DataConfig, OptimConfig, RunConfig, resolve_run_config

log = logging.getLogger("speechssl.train")
TOKENIZER_FILE = "tokenizer.json"

# fairseq's BASE fine-tuning configs (spec §7.2): max_update, lr, mask_prob, mask_channel_prob,
# layerdrop, freeze_finetune_updates. Batches there are 2 GPUs x update_freq 4 x 3.2M samples.
SPLITS = {
    "10m": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000),
    "1h": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000),
    "10h": (20_000, 5e-5, 0.65, 0.5, 0.05, 10_000),
    "100h": (80_000, 3e-5, 0.65, 0.5, 0.1, 0),
    "960h": (320_000, 1e-4, 0.5, 0.1, 0.1, 0),
}


def split_config(name: str, model: Wav2Vec2Config | None = None) -> RunConfig:
    """fairseq's BASE fine-tuning recipe for a labeled-data split, on one process (update_freq 8)."""
    max_update, lr, mask_prob, channel_prob, layerdrop, freeze = SPLITS[name]
    model = override(model or Wav2Vec2Config(), {
        "transformer.dropout": 0.0,
        "transformer.attention_dropout": 0.0,
        "transformer.activation_dropout": 0.1,
        "transformer.layerdrop": layerdrop,
        "dropout_input": 0.0,
        "final_dropout": 0.0,
        "feature_encoder.feature_grad_mult": 0.0,
        "masking.time_prob": mask_prob,
        "masking.time_length": 10,
        "masking.channel_prob": channel_prob,
        "masking.channel_length": 64,
    })
    return RunConfig(
        model=model,
        data=DataConfig(max_tokens=3_200_000, max_sample_size=None, min_sample_size=0),
        optim=OptimConfig(
            lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0, schedule="tri_stage",
            max_updates=max_update, update_freq=8, phase_ratio=(0.1, 0.4, 0.5), final_lr_scale=0.05,
        ),
        finetune=dataclasses.replace(RunConfig().finetune, freeze_encoder_updates=freeze),
        validate_interval=1000,
        save_interval=1000,
    )


def resolve_finetune_config(spec: str, overrides: dict | None = None) -> RunConfig:
    """A split name (10m, 1h, 10h, 100h, 960h), a run's config.json, or ``file.py:function``."""
    if spec in SPLITS:
        return override(split_config(spec), overrides or {})
    return resolve_run_config(spec, overrides)


def with_run_regularization(pretrained: Wav2Vec2Config, run: Wav2Vec2Config, **fields) -> Wav2Vec2Config:
    """The pretrained architecture with the run's dropouts, LayerDrop, conv gradient scale and
    masking (what a run may change of a checkpoint's model), plus ``fields``."""
    t = run.transformer
    return dataclasses.replace(
        pretrained,
        transformer=dataclasses.replace(
            pretrained.transformer, dropout=t.dropout, attention_dropout=t.attention_dropout,
            activation_dropout=t.activation_dropout, layerdrop=t.layerdrop,
        ),
        feature_encoder=dataclasses.replace(pretrained.feature_encoder, feature_grad_mult=run.feature_encoder.feature_grad_mult),
        masking=run.masking,
        dropout_input=run.dropout_input,
        **fields,
    )


def finetuning_model_config(pretrained: Wav2Vec2Config, run: Wav2Vec2Config, vocab_size: int) -> Wav2Vec2Config:
    """The pretrained architecture with the run's fine-tuning regularization (fairseq's
    Wav2VecEncoder overrides exactly these) and a head of ``vocab_size`` classes."""
    return with_run_regularization(pretrained, run, final_dropout=run.final_dropout, vocab_size=vocab_size)


def prepare_tokenizer(cfg: RunConfig, output_dir: str | os.PathLike, resume: bool = False) -> Tokenizer:
    """The run's tokenizer: when resuming, the one saved in ``output_dir``; else built from the
    training transcripts (or read from ``finetune.dictionary``) and saved there."""
    saved = Path(output_dir) / TOKENIZER_FILE
    if resume and saved.exists():
        return tokenizer_from_dict(json.loads(saved.read_text(encoding="utf-8")))
    ft = cfg.finetune
    manifest = Manifest.read(cfg.data.train_manifest)
    if not manifest.labeled:
        raise ValueError(f"{cfg.data.train_manifest}: fine-tuning needs transcripts (a .wrd or .ltr file beside it)")
    tokenizer = build_tokenizer(
        ft.tokenizer,
        [u.text for u in manifest.utterances],
        vocab_size=ft.sentencepiece_vocab_size,
        model_type=ft.sentencepiece_model_type,
        normalizer=TextNormalizer(case=ft.text_case, remove_punctuation=ft.remove_punctuation),
        dictionary=ft.dictionary or None,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(".tmp")
        tmp.write_text(json.dumps(tokenizer.to_dict()) + "\n", encoding="utf-8")
        os.replace(tmp, saved)
    return tokenizer


class CTCTask:
    @property
    def best_metric(self) -> tuple[str, ...]:
        """What ``checkpoints/best`` is kept by: ``finetune.best_metric``, later names breaking ties."""
        return tuple(self.cfg.finetune.best_metric)

    def __init__(self, cfg: RunConfig, tokenizer: Tokenizer, encoder_state: dict[str, torch.Tensor] | None = None):
        if cfg.model.vocab_size != len(tokenizer):
            raise ValueError(f"model.vocab_size {cfg.model.vocab_size} != the tokenizer's {len(tokenizer)} classes")
        self.cfg, self.tokenizer, self.encoder_state = cfg, tokenizer, encoder_state
        self.examples: list[tuple[str, str]] = []

    def build_model(self, cfg: RunConfig) -> nn.Module:
        model = Wav2Vec2ForCTC(cfg.model)
        if self.encoder_state is not None:
            model.encoder.load_state_dict(self.encoder_state, strict=True)
        model.tokenizer = self.tokenizer
        return model

    def frozen_prefixes(self, step: int) -> tuple[str, ...]:
        if step < self.cfg.finetune.freeze_encoder_updates:
            return ("encoder.",)
        if (self.cfg.model.feature_encoder.feature_grad_mult == 0
                or step < self.cfg.finetune.freeze_feature_encoder_updates):
            return ("encoder.feature_encoder.",)
        return ()

    def targets(self, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = [self.tokenizer.encode(t) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
        flat = torch.tensor([i for e in encoded for i in e], dtype=torch.long)
        return flat.to(device), lengths.to(device)

    def loss(self, model, batch: dict, num_updates: int, keys: torch.Tensor):
        out = model(batch["audio"], batch["audio_lens"], utterance_keys=keys)
        device = out.logits.device
        targets, target_lengths = self.targets(batch["texts"], device)
        log_probs = out.logits.float().log_softmax(-1)  # (B, T, V), fp32 as fairseq
        with torch.backends.cudnn.flags(enabled=False):  # fairseq disables cuDNN's CTC
            loss = nn.functional.ctc_loss(
                log_probs.transpose(0, 1), targets, out.lengths, target_lengths,
                blank=0, reduction="sum", zero_infinity=True,
            )
        batch_size = torch.tensor(float(len(batch["texts"])), device=device)
        stats = {"loss": loss.detach(), "num_tokens": target_lengths.sum().float(), "num_utterances": batch_size}
        if not model.training:
            stats.update(self._score(log_probs, out.lengths, batch["texts"], device))
        return loss, batch_size, stats  # sentence_avg: the loss is averaged per utterance

    def _score(self, log_probs, lengths, texts: list[str], device) -> dict[str, torch.Tensor]:
        totals = [0, 0, 0, 0]
        normalize = self.tokenizer.normalizer
        for path, reference in zip(greedy_decode(log_probs, lengths), texts):
            hypothesis = self.tokenizer.decode(path.tokens)
            counts = error_counts(normalize(reference), normalize(hypothesis))
            for i, v in enumerate((counts.word_errors, counts.words, counts.char_errors, counts.chars)):
                totals[i] += v
            if len(self.examples) < self.cfg.finetune.print_examples:
                self.examples.append((normalize(reference), hypothesis))
        names = ("word_errors", "words", "char_errors", "chars")
        return {n: torch.tensor(float(v), device=device) for n, v in zip(names, totals)}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["sample_size"], 1.0)
        metrics = {
            "loss": sums["loss"] / n,  # per utterance, nats
            "loss_per_token": sums["loss"] / max(sums["num_tokens"], 1.0),
        }
        if "words" in sums:
            metrics["wer"] = 100.0 * sums["word_errors"] / max(sums["words"], 1.0)
            metrics["cer"] = 100.0 * sums["char_errors"] / max(sums["chars"], 1.0)
        return metrics

    def check_health(self, metrics: dict[str, float], step: int) -> list[str]:
        return []

    def begin_validation(self) -> None:
        self.examples = []

    def end_validation(self, metrics: dict[str, float], step: int) -> None:
        for reference, hypothesis in self.examples:
            log.info("update %d  REF: %s", step, reference)
            log.info("update %d  HYP: %s", step, hypothesis or "(empty)")
        if self.examples and not any(h for _, h in self.examples):
            frozen = step < self.cfg.finetune.freeze_encoder_updates
            log.warning(
                "update %d: the model emits only blanks%s", step,
                " (expected while the encoder is frozen)" if frozen else "; WER stays 100 until the per-token loss falls "
                "below ~1 nat: train longer, check the lr and the labels",
            )


def finetune(
    cfg: RunConfig, output_dir: str | Path, *, resume: bool = False, progress: bool = True, stop_after: int | None = None
) -> dict[str, float]:
    """Fine-tune ``cfg.finetune.init_model`` (or a fresh ``cfg.model`` when empty) with CTC."""
    from speechssl.inference.features import encoder_of
    from speechssl.models import load_model
    from speechssl.train.trainer import Trainer

    tokenizer = prepare_tokenizer(cfg, output_dir, resume)
    encoder_state = None
    architecture = cfg.model
    if cfg.finetune.init_model:
        pretrained = load_model(cfg.finetune.init_model)
        architecture = pretrained.cfg
        encoder_state = encoder_of(pretrained).state_dict()
        if cfg.model.normalize_waveform != architecture.normalize_waveform:
            log.info("waveform normalization follows the pretrained model: %s", architecture.normalize_waveform)
    cfg = dataclasses.replace(cfg, model=finetuning_model_config(architecture, cfg.model, len(tokenizer)))
    task = CTCTask(cfg, tokenizer, encoder_state)
    return Trainer(cfg, task, output_dir, resume=resume, progress=progress).train(stop_after=stop_after)
