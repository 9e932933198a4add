"""A one-minute end-to-end check of an installation: audio file -> tiny model -> trained, saved,
exported and reloaded. It stands in for the main job until the pretraining recipe exists."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from speechssl import config
from speechssl.audio import SAMPLE_RATE, load_audio
from speechssl.model import Wav2Vec2ForPretraining


def synthesize_test_signal(seconds: float, seed: int = 0) -> torch.Tensor:
    """A voiced-speech-like signal: a gliding harmonic source with syllable-rate bursts and noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 120 + 30 * torch.sin(2 * math.pi * 0.7 * t)  # Hz
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / SAMPLE_RATE
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 12))
    syllables = (torch.sin(2 * math.pi * 4 * t) > -0.2).float()
    noise = 0.05 * torch.randn(t.shape, generator=g)
    return (0.3 * voiced * syllables + noise).float()


def run_smoke(output_dir: str | Path = "runs/smoke", steps: int = 20, log=print) -> dict:
    import soundfile

    from speechssl.convert.huggingface import load_huggingface, save_huggingface
    from speechssl.models import load_model
    from speechssl.serialization import save_model

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    wav_path = output_dir / "signal.flac"
    soundfile.write(wav_path, synthesize_test_signal(6.0).numpy(), SAMPLE_RATE)
    audio = load_audio(wav_path)
    log(f"wrote and read {wav_path} ({audio.numel() / SAMPLE_RATE:.1f} s)")

    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(config.tiny()).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    crop = 2 * SAMPLE_RATE
    batch = torch.stack([audio[i * crop : (i + 1) * crop] for i in range(3)])  # (3, 32000)
    lengths = torch.tensor([crop, crop, crop * 3 // 4])
    start = time.perf_counter()
    history = []
    for step in range(steps):
        out = model(batch, lengths, num_updates=step)
        loss = out.loss / out.num_masked
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bits = (out.contrastive_loss / out.num_masked / math.log(2)).item()
        history.append(bits)
        if step % 5 == 0 or step == steps - 1:
            rate = (step + 1) * lengths.sum().item() / SAMPLE_RATE / (time.perf_counter() - start)
            log(
                f"step {step + 1}/{steps}  contrastive {bits:.3f} bits  acc {(out.num_correct / out.num_masked).item():.3f}"
                f"  code ppl {out.code_perplexity.item():.1f}  {rate:.1f} audio-s/s"
            )
    model.eval()
    native = save_model(model, output_dir / "model")
    exported = save_huggingface(model, output_dir / "huggingface")
    reloaded = [load_model(native), load_huggingface(exported)]
    state = model.state_dict()
    same = all(torch.equal(state[k], m.state_dict()[k]) for m in reloaded for k in state)
    log(f"saved {native} and {exported}; reloaded weights identical: {same}")
    if not same:
        raise RuntimeError("a saved model did not reload identically")
    return {"contrastive_bits": history, "output_dir": str(output_dir)}
