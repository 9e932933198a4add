"""compile=true: the compiled training forward matches eager, resumes exactly, and its bucketed
padding changes no loss. Compiled against eager uses the default backend (inductor: two graphs,
batches of 1 and of 6 utterances, minutes of C++ compiles on 2 cores); the resume runs use
aot_eager (the same dynamo graphs and autograd)."""

import json

import pytest
import safetensors.torch
import torch

from speechssl import config
from speechssl.model import Wav2Vec2ForPretraining
from speechssl.model.keyed_noise import combine_keys
from speechssl.testing import random_batch, tiny_run_config
from speechssl.train.compile import TrainingCompiler, bucket_for, bucket_sizes
from speechssl.train.pretrain import pretrain

NO_DROPOUT = {"model.transformer.dropout": 0.0, "model.transformer.attention_dropout": 0.0,
              "model.transformer.activation_dropout": 0.0, "model.dropout_input": 0.0, "model.dropout_features": 0.0}
# Every utterance cropped to 2 s, at most 6 per batch: one padded length, so few graphs per run.
# LayerDrop 0.5 on 2 layers: updates with a dropped layer occur within 4 updates.
ONE_SHAPE = {"data.max_sample_size": 32_000, "data.min_sample_size": 32_000, "data.max_tokens": 192_000,
             "model.transformer.layerdrop": 0.5, "optim.max_updates": 4, "validate_interval": 100, "save_interval": 2,
             "compile_buckets": 1}
LOSS_RTOL = 2e-4  # compiled vs eager, per update (inductor reorders float sums; measured ~1e-6)


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def train_losses(run_dir):
    return [(r["step"], r["loss_bits"]) for r in records(run_dir) if r["split"] == "train"]


def weights(run_dir, step):
    return safetensors.torch.load_file(str(run_dir / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))


@pytest.fixture(scope="module")
def runs(synthetic_corpus, tmp_path_factory):
    """Eager and compiled runs without dropout; compiled runs with dropout, whole and resumed."""
    torch._dynamo.reset()
    root = tmp_path_factory.mktemp("compile_runs")
    plain = tiny_run_config(synthetic_corpus, **ONE_SHAPE, **NO_DROPOUT)
    pretrain(plain, root / "eager", progress=False)
    pretrain(config.override(plain, {"compile": True}), root / "compiled", progress=False)
    # aot_eager: the same dynamo graphs and autograd, without inductor's minutes of C++ compiles
    noisy = tiny_run_config(synthetic_corpus, **ONE_SHAPE, compile=True, compile_backend="aot_eager")
    pretrain(noisy, root / "whole", progress=False)
    pretrain(noisy, root / "split", progress=False, stop_after=2)
    pretrain(noisy, root / "split", progress=False, resume=True)
    return root


def test_compiled_updates_match_eager(runs):
    eager, compiled = train_losses(runs / "eager"), train_losses(runs / "compiled")
    assert [s for s, _ in compiled] == [s for s, _ in eager] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(eager, compiled):
        assert b == pytest.approx(a, rel=LOSS_RTOL)
    for name, value in weights(runs / "eager", 4).items():
        torch.testing.assert_close(weights(runs / "compiled", 4)[name], value, rtol=1e-3, atol=1e-5, msg=name)
    # the count of compiled graphs is reported and bounded: batches of 1 and of 6 utterances, one
    # padded length, so two graphs (dynamo always specializes a batch of one), or three where
    # dynamo first specializes the batch of 6 and then recompiles it with a dynamic batch
    # dimension (seen in a fresh-clone CI run)
    sizes = [r["audio_seconds"] / 2 for r in records(runs / "eager") if r["split"] == "train"]
    graphs = [r["compiled_graphs"] for r in records(runs / "compiled") if r["split"] == "train"]
    assert set(sizes) == {1, 6} and 2 <= graphs[-1] <= 3 and graphs == sorted(graphs)
    assert all("compiled_graphs" not in r for r in records(runs / "eager"))


def test_resume_from_a_compiled_run_equals_an_uninterrupted_one(runs):
    # dropout drawn inside the compiled graph and LayerDrop decisions handed to it: both resume
    assert train_losses(runs / "split") == train_losses(runs / "whole")
    whole, split = weights(runs / "whole", 4), weights(runs / "split", 4)
    assert whole.keys() == split.keys()
    for name in whole:
        assert torch.equal(whole[name], split[name]), name


def test_bucket_sizes_bound_the_padded_lengths():
    longest = [33_000, 40_000, 41_000, 90_000, 120_000, 250_000, 250_000, 250_000]
    buckets = bucket_sizes(longest, 4)
    assert len(buckets) <= 4 and buckets == tuple(sorted(buckets))
    assert all(b % 320 == 0 for b in buckets) and buckets[-1] == 250_240
    assert all(bucket_for(n, buckets) >= n for n in longest)
    assert {bucket_for(n, buckets) for n in range(1_000, 250_001, 997)} <= set(buckets)
    assert bucket_for(250_500, buckets) == 256_000  # past the last: whole seconds, never an error
    assert bucket_sizes([50_000] * 10, 8) == (50_240,)
    with pytest.raises(ValueError, match="compile_buckets"):
        bucket_sizes(longest, 0)


def test_bucket_padding_never_changes_the_loss_of_the_real_frames():
    # The model as training runs it (keyed masks, negatives and Gumbel noise; no dropout).
    cfg = config.override(config.tiny(), {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0,
                                          "dropout_input": 0.0, "dropout_features": 0.0})
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    audio, lengths = random_batch([12_000, 19_000, 24_000])
    keys = combine_keys(1, 5, torch.arange(3))
    padded = TrainingCompiler([16_000, 32_000], backend="eager").pad({"audio": audio, "audio_lens": lengths})["audio"]
    assert padded.shape == (3, 32_000) and torch.equal(padded[:, :24_000], audio) and not padded[:, 24_000:].any()
    a = model(audio, lengths, num_updates=3, utterance_keys=keys)
    b = model(padded, lengths, num_updates=3, utterance_keys=keys)
    T = a.time_mask.shape[1]
    assert not b.time_mask[:, T:].any()  # padded frames are never masked (so never scored)
    assert torch.equal(a.time_mask, b.time_mask[:, :T])
    assert torch.equal(a.num_masked, b.num_masked) and torch.equal(a.num_frames, b.num_frames)
    for name in ("loss", "contrastive_loss", "diversity_loss", "feature_penalty"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-5, atol=1e-4, msg=name)
    # and each utterance alone gives what it gives in the padded batch
    for i, n in enumerate(lengths.tolist()):
        alone = model(audio[i : i + 1, :n], lengths[i : i + 1], num_updates=3, utterance_keys=keys[i : i + 1])
        rows = b.time_mask[i : i + 1]
        assert torch.equal(alone.time_mask, rows[:, : alone.time_mask.shape[1]])
        assert alone.num_masked == rows.sum()
