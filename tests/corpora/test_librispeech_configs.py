"""The LibriSpeech recipe's configs against fairseq's BASE yamls, and GPU-count scaling."""

import subprocess

import pytest

from speechssl.train.config import resolve_run_config
from tests.corpora.layouts import REPO

# examples/wav2vec/config/finetuning/base_{10m,1h,10h,100h,960h}.yaml (spec §7.2):
# split: max_update, lr, mask_prob, mask_channel_prob, layerdrop, freeze_finetune_updates,
#        distributed_world_size x update_freq
FAIRSEQ_BASE_FINETUNING = {
    "10min": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000, 2 * 4),
    "1h": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000, 2 * 4),
    "10h": (20_000, 5e-5, 0.65, 0.5, 0.05, 10_000, 2 * 4),
    "100h": (80_000, 3e-5, 0.65, 0.5, 0.1, 0, 2 * 4),
    "960h": (320_000, 1e-4, 0.5, 0.1, 0.1, 0, 8 * 1),
}
MANIFESTS = {"10min": "train-10min", "1h": "train-1h", "10h": "train-10h", "100h": "train-clean-100", "960h": "train-960"}


@pytest.mark.parametrize("split", list(FAIRSEQ_BASE_FINETUNING))
def test_finetuning_configs_equal_fairseq_base(split):
    run = resolve_run_config(f"{REPO}/recipes/librispeech/configs.py:finetune_{split}")
    updates, lr, mask_prob, channel_prob, layerdrop, freeze, gpu_batches = FAIRSEQ_BASE_FINETUNING[split]
    o, m, t = run.optim, run.model, run.model.transformer
    assert (o.max_updates, o.lr, o.update_freq) == (updates, lr, gpu_batches)  # one process: update_freq = all GPU-batches
    assert (o.schedule, o.phase_ratio, o.init_lr_scale, o.final_lr_scale) == ("tri_stage", (0.1, 0.4, 0.5), 0.01, 0.05)
    assert (o.betas, o.eps, o.weight_decay) == ((0.9, 0.98), 1e-8, 0.0)
    assert run.data.max_tokens == 3_200_000 and run.data.max_sample_size is None
    assert (m.masking.time_prob, m.masking.time_length) == (mask_prob, 10)
    assert (m.masking.channel_prob, m.masking.channel_length) == (channel_prob, 64)
    assert t.layerdrop == layerdrop and run.finetune.freeze_encoder_updates == freeze
    assert (t.dropout, t.attention_dropout, t.activation_dropout, m.dropout_input, m.final_dropout) == (0, 0, 0.1, 0, 0)
    assert m.feature_encoder.feature_grad_mult == 0.0  # the conv encoder stays frozen
    assert run.data.train_manifest.endswith(f"{MANIFESTS[split]}.tsv") and run.data.valid_manifest.endswith("dev-other.tsv")
    assert run.finetune.dictionary.endswith("dict.ltr.txt") and run.finetune.tokenizer == "char"


@pytest.mark.parametrize("name", ["pretrain_base_960h", "pretrain_base_100h"])
def test_pretraining_configs_equal_fairseq_base(name):
    run = resolve_run_config(f"{REPO}/recipes/librispeech/configs.py:{name}")
    o = run.optim
    assert (o.lr, o.warmup_updates, o.max_updates, o.schedule, o.update_freq) == (5e-4, 32_000, 400_000, "polynomial", 64)
    assert (o.betas, o.eps, o.weight_decay) == ((0.9, 0.98), 1e-6, 0.01)
    assert (run.data.max_tokens, run.data.max_sample_size, run.data.min_sample_size) == (1_400_000, 250_000, 32_000)
    assert run.model.transformer.num_layers == 12 and run.model.transformer.embed_dim == 768


def _update_freq(gpus: int, total: int) -> subprocess.CompletedProcess:
    script = f'conf=/dev/null; exp=$(mktemp -d); RECIPE=t; NUM_GPUS={gpus}; source recipes/common.sh; update_freq {total}'
    return subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True)


def test_update_freq_keeps_the_reference_batch_for_any_gpu_count():
    assert [_update_freq(g, 64).stdout.strip() for g in (1, 8, 16, 64)] == ["64", "8", "4", "1"]
    assert [_update_freq(g, 8).stdout.strip() for g in (1, 2, 8)] == ["8", "4", "1"]
    bad = _update_freq(3, 8)
    assert bad.returncode != 0 and "does not divide" in bad.stderr
