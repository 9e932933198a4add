"""Which checkpoint a run keeps as ``best``: the task's metrics in order, later ones breaking ties."""

import dataclasses
import math

from speechssl.testing import tiny_finetune_config
from speechssl.train import checkpoint
from speechssl.train.finetune import CTCTask, finetuning_model_config, prepare_tokenizer
from speechssl.train.trainer import Trainer, selection_key


def test_selection_key_breaks_ties_in_order_and_ranks_missing_metrics_last():
    order = ("wer", "cer", "loss")
    flat = [{"wer": 100.0, "cer": 90.0, "loss": 5.0}, {"wer": 100.0, "cer": 80.0, "loss": 6.0},
            {"wer": 100.0, "cer": 80.0, "loss": 4.0}]
    assert min(flat, key=lambda m: selection_key(m, order)) is flat[2]
    assert selection_key({"wer": 99.0, "cer": 99.0}, order) < selection_key(flat[2], order)  # WER still decides first
    assert selection_key({}, "loss_bits") == (math.inf,)
    assert selection_key({"loss_bits": 3.0}, "loss_bits") < (math.inf,)  # a fresh run's best_valid


def train_with_scripted_validations(cfg, scripted, tmp_path, monkeypatch) -> Trainer:
    """A short CTC run whose validations return the ``scripted`` metrics in turn."""
    monkeypatch.setattr(Trainer, "validate", lambda self: next(scripted))
    tokenizer = prepare_tokenizer(cfg, tmp_path)
    cfg = dataclasses.replace(cfg, model=finetuning_model_config(cfg.model, cfg.model, len(tokenizer)))
    trainer = Trainer(cfg, CTCTask(cfg, tokenizer), tmp_path, progress=False)
    trainer.train()
    return trainer


def test_finetuning_keeps_the_lowest_cer_then_loss_when_every_wer_is_100(synthetic_corpus, tmp_path, monkeypatch):
    """The flat-WER case of a short CTC run: the first validation must not win by default."""
    cfg = tiny_finetune_config(synthetic_corpus, **{"optim.max_updates": 4, "validate_interval": 1, "save_interval": 4})
    scripted = iter([{"wer": 100.0, "cer": 95.0, "loss": 9.0}, {"wer": 100.0, "cer": 80.0, "loss": 7.0},
                     {"wer": 100.0, "cer": 80.0, "loss": 6.5}, {"wer": 100.0, "cer": 88.0, "loss": 1.0}])
    trainer = train_with_scripted_validations(cfg, scripted, tmp_path, monkeypatch)
    assert checkpoint.load_train_state(tmp_path / "checkpoints" / "best")["step"] == 3
    assert trainer.best_valid == (100.0, 80.0, 6.5)


def test_the_selection_order_is_a_fine_tuning_setting(synthetic_corpus, tmp_path, monkeypatch):
    """``finetune.best_metric=("cer", "wer", "loss")``: a WER above 100 everywhere must not pick a worse CER."""
    cfg = tiny_finetune_config(synthetic_corpus, **{"optim.max_updates": 3, "validate_interval": 1, "save_interval": 3,
                                                    "finetune.best_metric": ("cer", "wer", "loss")})
    scripted = iter([{"wer": 100.8, "cer": 82.0, "loss": 2.6}, {"wer": 111.8, "cer": 65.0, "loss": 2.2},
                     {"wer": 105.0, "cer": 70.0, "loss": 2.3}])
    trainer = train_with_scripted_validations(cfg, scripted, tmp_path, monkeypatch)
    assert checkpoint.load_train_state(tmp_path / "checkpoints" / "best")["step"] == 2
