import numpy as np
import pytest
import soundfile
import torch

from speechssl.audio import SAMPLE_RATE, load_audio, normalize_waveform


def tone(rate, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype("float32")


@pytest.mark.parametrize(
    "name,subtype,rate",
    [("a.wav", "PCM_U8", 8000), ("b.wav", "PCM_16", 16000), ("c.wav", "PCM_24", 22050), ("d.wav", "PCM_32", 44100),
     ("e.wav", "FLOAT", 16000), ("f.flac", "PCM_16", 48000), ("g.ogg", "VORBIS", 16000), ("h.mp3", "MPEG_LAYER_III", 24000)],
)
def test_load_audio_reads_formats_and_resamples(tmp_path, name, subtype, rate):
    soundfile.write(tmp_path / name, np.stack([tone(rate), tone(rate)], axis=1), rate, subtype=subtype)  # stereo
    audio = load_audio(tmp_path / name)
    assert audio.dtype == torch.float32 and audio.dim() == 1
    assert abs(audio.numel() - SAMPLE_RATE) <= 0.06 * SAMPLE_RATE  # mp3 adds encoder padding
    assert 0.2 < audio.abs().max() < 0.7
    spectrum = torch.fft.rfft(audio[: SAMPLE_RATE // 2]).abs()
    assert abs(int(spectrum.argmax()) * 2 - 440) <= 4  # still a 440 Hz tone after resampling


def test_load_audio_names_bad_files(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="bad.wav"):
        load_audio(tmp_path / "bad.wav")
    with pytest.raises(ValueError, match="nothere.flac"):
        load_audio(tmp_path / "nothere.flac")
    soundfile.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2] * 200, "float32"), 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="nan.wav.*NaN"):
        load_audio(tmp_path / "nan.wav")


def test_load_audio_keeps_mono_samples_and_averages_channels(tmp_path):
    samples = np.random.default_rng(1).uniform(-0.9, 0.9, (4000, 3)).astype("float32")
    soundfile.write(tmp_path / "mono.wav", samples[:, 0], SAMPLE_RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "three.wav", samples, SAMPLE_RATE, subtype="FLOAT")
    assert torch.equal(load_audio(tmp_path / "mono.wav"), torch.from_numpy(samples[:, 0]))
    torch.testing.assert_close(load_audio(tmp_path / "three.wav"), torch.from_numpy(samples).mean(1), rtol=0, atol=1e-7)


def test_load_audio_normalize_and_arrays():
    x = np.random.default_rng(0).normal(3.0, 2.0, (2, 8000)).astype("float32")
    y = load_audio(x, normalize=True)
    assert y.shape == (8000,) and abs(float(y.mean())) < 1e-4 and abs(float(y.std(unbiased=False)) - 1) < 1e-3


def test_normalize_waveform_uses_each_rows_valid_samples_only():
    x = torch.zeros(2, 1000)
    x[0] = torch.randn(1000) * 3 + 1
    x[1, :600] = torch.randn(600) * 0.1 - 2
    y = normalize_waveform(x, torch.tensor([1000, 600]))
    assert torch.allclose(y[1, :600].mean(), torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(y[1, :600].std(unbiased=False), torch.tensor(1.0), atol=1e-3)
    assert (y[1, 600:] == 0).all()
    torch.testing.assert_close(y[1, :600], normalize_waveform(x[1, :600]))
