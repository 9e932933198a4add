import json
import subprocess
import sys

import torch

from speechssl import config
from speechssl.audio import SAMPLE_RATE, load_audio, normalize_waveform
from speechssl.model import Wav2Vec2ForCTC
from speechssl.serialization import load_model, save_model


def run_cli(*args, cwd=None):
    result = subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_smoke_job_trains_saves_and_reloads(tmp_path):
    out = run_cli("smoke", "--output-dir", str(tmp_path / "smoke"), "--steps", "6")
    assert "reloaded weights identical: True" in out
    assert (tmp_path / "smoke" / "model" / "model.safetensors").exists()
    assert json.loads((tmp_path / "smoke" / "huggingface" / "config.json").read_text())["model_type"] == "wav2vec2"


def test_convert_round_trip_through_the_cli(tmp_path):
    model = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": 7})).eval()
    save_model(model, tmp_path / "native")
    run_cli("convert", str(tmp_path / "native"), str(tmp_path / "hf"), "--to", "huggingface")
    run_cli("convert", str(tmp_path / "hf"), str(tmp_path / "back"))
    back = load_model(tmp_path / "back")
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in model.state_dict().items())


def test_load_audio_downmixes_resamples_and_names_bad_files(tmp_path):
    import numpy as np
    import pytest
    import soundfile

    stereo = np.stack([np.linspace(-0.5, 0.5, 8000), np.zeros(8000)], axis=1).astype("float32")
    soundfile.write(tmp_path / "a.flac", stereo, 8000)
    audio = load_audio(tmp_path / "a.flac")
    assert audio.dtype == torch.float32 and audio.dim() == 1 and abs(audio.numel() - SAMPLE_RATE) <= 1
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="bad.wav"):
        load_audio(tmp_path / "bad.wav")


def test_normalize_waveform_uses_each_rows_valid_samples_only():
    x = torch.zeros(2, 1000)
    x[0] = torch.randn(1000) * 3 + 1
    x[1, :600] = torch.randn(600) * 0.1 - 2
    y = normalize_waveform(x, torch.tensor([1000, 600]))
    assert torch.allclose(y[1, :600].mean(), torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(y[1, :600].std(unbiased=False), torch.tensor(1.0), atol=1e-3)
    assert (y[1, 600:] == 0).all()
    torch.testing.assert_close(y[1, :600], normalize_waveform(x[1, :600]))
