import json
import logging
import math
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import safetensors.torch
import soundfile
import torch

from speechssl.data.manifest import Manifest, Utterance
from speechssl.testing import augment_everything, tiny_run_config
from speechssl.train import checkpoint
from speechssl.train.config import RunConfig
from speechssl.train.pretrain import PretrainTask, pretrain


def train_losses(run_dir):
    records = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss_bits"]) for r in records if r["split"] == "train"]


def final_weights(run_dir, step):
    return safetensors.torch.load_file(str(run_dir / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_run_writes_config_checkpoints_logs_and_tensorboard(synthetic_corpus, tmp_path):
    cfg = tiny_run_config(synthetic_corpus)
    metrics = pretrain(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert RunConfig.from_dict(json.loads((run / "config.json").read_text())) == cfg
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_00000006"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if not p.name.startswith(".")) == [
        "best", "latest", "step_00000003", "step_00000006"]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "valid"}
    for key in ("loss_bits", "contrastive_bits", "accuracy", "code_perplexity", "prob_perplexity", "temperature", "lr",
                "grad_norm", "loss_scale", "masked_fraction", "neg_is_pos_rate", "audio_seconds_per_second"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0.3 < metrics["masked_fraction"] < 0.7
    # a checkpoint rebuilds its model alone
    from speechssl.models import load_model

    assert type(load_model(run / "checkpoints" / "best")).__name__ == "Wav2Vec2ForPretraining"
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain(cfg, run, progress=False)


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
def test_resume_equals_uninterrupted(synthetic_corpus, tmp_path, augment):
    # dropout and layerdrop on, a loader worker: every source of randomness must resume exactly
    extra = augment_everything(tmp_path / "noise") if augment else {}
    cfg = tiny_run_config(synthetic_corpus, **{"model.transformer.layerdrop": 0.3, "data.num_workers": 1}, **extra)
    pretrain(cfg, tmp_path / "full", progress=False)
    pretrain(cfg, tmp_path / "split", progress=False, stop_after=3)
    pretrain(cfg, tmp_path / "split", progress=False, resume=True)
    assert train_losses(tmp_path / "split") == train_losses(tmp_path / "full")
    assert len(train_losses(tmp_path / "full")) == 6
    assert_same_weights(final_weights(tmp_path / "split", 6), final_weights(tmp_path / "full", 6))
    if augment:  # and the training batches (only those) were augmented
        from speechssl.train.trainer import Trainer

        trainer = Trainer(cfg, PretrainTask(cfg), tmp_path / "probe", progress=False)
        assert trainer.train_data[1].augmenter is not None and trainer.valid_data[1].augmenter is None


def test_sigkill_during_checkpoint_write_resumes_from_the_previous_one(synthetic_corpus, tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from speechssl.testing import tiny_run_config
        from speechssl.train import checkpoint
        from speechssl.train.pretrain import pretrain
        write = checkpoint.write_train_state
        def dying_write(directory, state):
            if state["step"] == 4:
                (directory / "trainer.pt").write_bytes(b"half a checkpoint")
                os.kill(os.getpid(), signal.SIGKILL)
            write(directory, state)
        checkpoint.write_train_state = dying_write
        pretrain(tiny_run_config({str(synthetic_corpus)!r}, save_interval=2), {str(tmp_path / "run")!r}, progress=False)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    root = tmp_path / "run" / "checkpoints"
    assert checkpoint.find_latest(root).name == "step_00000002"
    assert (root / ".step_00000004.tmp").exists()  # the half-written one never became visible
    cfg = tiny_run_config(synthetic_corpus, save_interval=2)
    pretrain(cfg, tmp_path / "run", progress=False, resume=True)
    pretrain(cfg, tmp_path / "reference", progress=False)
    assert_same_weights(final_weights(tmp_path / "run", 6), final_weights(tmp_path / "reference", 6))


def test_bad_files_mid_epoch_are_skipped_and_named(synthetic_corpus, tmp_path, caplog):
    good = Manifest.read(synthetic_corpus / "train_unlabeled.tsv")
    (tmp_path / "corrupt.flac").write_bytes(b"\x00not audio" * 1000)
    soundfile.write(tmp_path / "empty.flac", np.zeros(0, "float32"), 16000)
    soundfile.write(tmp_path / "short.flac", np.zeros(200, "float32"), 16000)
    bad = [Utterance(str(tmp_path / name), 40_000) for name in ("missing.flac", "corrupt.flac", "empty.flac", "short.flac")]
    Manifest(good.root, good.utterances + bad).write(tmp_path / "mixed.tsv")
    cfg = tiny_run_config(synthetic_corpus, **{"data.train_manifest": str(tmp_path / "mixed.tsv"), "optim.max_updates": 12,
                                               "log_interval": 12})
    with caplog.at_level(logging.WARNING):
        metrics = pretrain(cfg, tmp_path / "run", progress=False)
    for name in ("missing.flac", "corrupt.flac", "empty.flac", "short.flac"):
        assert name in caplog.text
    assert metrics["failed_files"] >= 4 and math.isfinite(metrics["loss_bits"])


def test_non_finite_updates_are_skipped_then_the_run_stops_with_the_batch_saved(synthetic_corpus, tmp_path, monkeypatch):
    real_loss = PretrainTask.loss

    def poisoned(self, model, batch, num_updates, keys):
        loss, size, stats = real_loss(self, model, batch, num_updates, keys)
        return loss * float("nan") if self.poison else loss, size, stats

    monkeypatch.setattr(PretrainTask, "loss", poisoned)
    monkeypatch.setattr(PretrainTask, "poison", True, raising=False)
    cfg = tiny_run_config(synthetic_corpus, max_nonfinite=3)
    with pytest.raises(RuntimeError, match="non-finite"):
        pretrain(cfg, tmp_path / "run", progress=False)
    saved = list((tmp_path / "run").glob("nonfinite_batch_*.pt"))
    assert len(saved) == 1 and "audio" in torch.load(saved[0], weights_only=False)["micro_batches"][0]


def test_health_check_flags_chance_level_and_collapse(synthetic_corpus):
    task = PretrainTask(tiny_run_config(synthetic_corpus))
    healthy = {"contrastive_bits": 3.0, "code_perplexity": 40.0, "neg_is_pos_rate": 0.01}
    assert task.check_health(healthy, 5000) == []
    stuck = task.check_health({**healthy, "contrastive_bits": 6.65}, 5000)
    assert len(stuck) == 1 and "chance" in stuck[0]
    collapsed = task.check_health({**healthy, "code_perplexity": 1.5, "neg_is_pos_rate": 0.9}, 5000)
    assert len(collapsed) == 2


def test_bf16_is_refused_on_cpus_without_native_support():
    from speechssl.train.trainer import resolve_precision

    has_bf16 = any(getattr(torch.cpu, p, lambda: False)() for p in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    assert resolve_precision("bf16", torch.device("cpu")) == ("bf16" if has_bf16 else "fp32")
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", torch.device("cpu"))
