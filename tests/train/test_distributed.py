"""torchrun with two CPU processes (gloo) equals one process on the same global batch."""

import shutil
import subprocess
import sys
from pathlib import Path

import safetensors.torch
import torch

from speechssl.data.manifest import Manifest
from speechssl.data.sampler import LengthBucketSampler

JOB = str(Path(__file__).with_name("ddp_job.py"))


def even_batch_budget(corpus: Path) -> int:
    """A budget giving an even number of batches: then 2 ranks x 1 micro-batch and 1 rank x 2
    micro-batches consume exactly the same global batches."""
    sizes = Manifest.read(corpus / "train_unlabeled.tsv").sizes
    for max_tokens in range(150_000, 400_000, 10_000):
        sampler = LengthBucketSampler(sizes, max_tokens, max_sample_size=250_000, min_sample_size=8_000, seed=1)
        if len(sampler.global_batches(0)) % 2 == 0 and len(sampler.global_batches(0)) >= 6:
            return max_tokens
    raise AssertionError("no budget gives an even batch count")


def test_two_processes_equal_one_process(synthetic_corpus, tmp_path):
    max_tokens = str(even_batch_budget(synthetic_corpus))
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run([sys.executable, JOB, str(synthetic_corpus), str(single), "2", max_tokens], check=True)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", JOB, str(synthetic_corpus), str(multi), "1", max_tokens],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    one = safetensors.torch.load_file(str(single / "rank0.safetensors"))
    rank0 = safetensors.torch.load_file(str(multi / "rank0.safetensors"))
    rank1 = safetensors.torch.load_file(str(multi / "rank1.safetensors"))
    for name, value in one.items():
        assert torch.equal(rank0[name], rank1[name]), f"ranks diverged at {name}"
        torch.testing.assert_close(rank0[name], value, atol=2e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")
    # and the updates did something
    from speechssl import config
    from speechssl.model import Wav2Vec2ForPretraining

    torch.manual_seed(1)
    initial = Wav2Vec2ForPretraining(config.tiny()).state_dict()
    assert any(not torch.allclose(initial[k], one[k]) for k in one)
