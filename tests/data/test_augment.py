import dataclasses
import math

import numpy as np
import pytest
import soundfile
import torch
from scipy import signal

from speechssl.audio import load_audio
from speechssl.data.augment import Augmenter, utterance_generators
from speechssl.data.dataset import AudioDataset
from speechssl.data.manifest import Manifest, Utterance
from speechssl.train.config import AugmentConfig, RunConfig, resolve_run_config

SR = 16_000
EVERYTHING = AugmentConfig(speed_prob=1.0, reverb_prob=1.0, noise_prob=1.0, babble_prob=1.0, noise_dir_prob=1.0,
                           telephone_prob=0.5, lowpass_prob=0.5, gain_prob=1.0)


def voiced(samples: int, seed: int) -> np.ndarray:
    """A speech-like test signal: a 120-250 Hz harmonic series under a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SR
    f0 = rng.uniform(120, 250)
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 30) if f0 * k < 7900)
    return (0.1 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype("float32")


@pytest.fixture
def corpus(tmp_path):
    sizes = [40_000, 24_000, 56_000, 32_000, 48_000]
    for i, n in enumerate(sizes):
        soundfile.write(tmp_path / f"u{i}.wav", voiced(n, i), SR)
    noise = tmp_path / "noise" / "street"
    noise.mkdir(parents=True)
    soundfile.write(noise / "hum.flac", np.random.default_rng(9).standard_normal(20_000).astype("float32") * 0.05, 22_050)
    soundfile.write(noise / "long.wav", np.random.default_rng(8).standard_normal(100_000).astype("float32") * 0.2, SR)
    return Manifest(tmp_path, [Utterance(f"u{i}.wav", n) for i, n in enumerate(sizes)]), str(tmp_path / "noise")


def band_energy(x: torch.Tensor, low: float, high: float) -> float:
    freqs, psd = signal.welch(x.double().numpy(), fs=SR, nperseg=1024)
    return float(psd[(freqs >= low) & (freqs < high)].sum())


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    return 10 * math.log10(clean.double().pow(2).sum() / (noisy.double() - clean.double()).pow(2).sum())


def test_same_key_same_audio_and_a_new_key_new_audio(corpus):
    manifest, noise_dir = corpus
    cfg = dataclasses.replace(EVERYTHING, noise_dir=noise_dir)
    first = AudioDataset(manifest, max_sample_size=30_000, seed=4, augment=cfg)[(2, [0, 3, 4])]
    again = AudioDataset(manifest, max_sample_size=30_000, seed=4, augment=cfg)[(2, [4, 3])]  # another batch, another worker
    for row, index in enumerate([4, 3]):
        n = int(again["audio_lens"][row])
        assert n == int(first["audio_lens"][[0, 3, 4].index(index)])
        assert torch.equal(again["audio"][row, :n], first["audio"][[0, 3, 4].index(index), :n])
    for other in (dict(seed=5, epoch=2), dict(seed=4, epoch=3)):
        changed = AudioDataset(manifest, max_sample_size=30_000, seed=other["seed"], augment=cfg)[(other["epoch"], [0])]
        n = min(int(changed["audio_lens"][0]), int(first["audio_lens"][0]))
        assert not torch.allclose(changed["audio"][0, :n], first["audio"][0, :n], atol=1e-3)


def test_the_thread_count_does_not_change_the_audio(corpus):
    # a loader worker runs 1 thread, the main process and torchrun ranks their own counts
    manifest, noise_dir = corpus
    dataset = AudioDataset(manifest, seed=4, augment=dataclasses.replace(EVERYTHING, noise_dir=noise_dir))
    threads = torch.get_num_threads()
    batches = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            batches.append(dataset[(0, [0, 1, 2, 3, 4])]["audio"])
            assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(*batches)


def test_off_is_bit_identical_to_no_augmentation(corpus):
    manifest, _ = corpus
    plain = AudioDataset(manifest, max_sample_size=30_000, seed=1)[(0, [0, 1, 2])]
    off = AudioDataset(manifest, max_sample_size=30_000, seed=1, augment=AugmentConfig())[(0, [0, 1, 2])]
    assert torch.equal(plain["audio"], off["audio"]) and torch.equal(plain["audio_lens"], off["audio_lens"])
    assert not AugmentConfig().active and RunConfig().data.augment == AugmentConfig()


def test_each_effect_draws_from_its_own_stream(corpus):
    manifest, _ = corpus
    clean = AudioDataset(manifest, seed=0)[(0, [1])]["audio"][0]
    gain = AudioDataset(manifest, seed=0, augment=AugmentConfig(gain_prob=1.0))[(0, [1])]["audio"][0]
    noise = AudioDataset(manifest, seed=0, augment=AugmentConfig(noise_prob=1.0))[(0, [1])]["audio"][0]
    both = AudioDataset(manifest, seed=0, augment=AugmentConfig(gain_prob=1.0, noise_prob=1.0))[(0, [1])]["audio"][0]
    scale = gain.norm() / clean.norm()
    assert abs(float(scale) - 1) > 0.01 and not torch.allclose(noise, clean, atol=1e-3)
    torch.testing.assert_close(both, noise * scale)  # the same noise and the same gain as when alone


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.07, 1.1])
def test_speed_scales_length_and_frequency_by_the_factor(factor):
    t = torch.arange(32_000) / SR
    tone = torch.sin(2 * math.pi * 1_000 * t)
    fast = Augmenter.speed(tone, factor)
    assert fast.numel() == math.ceil(32_000 / factor)
    freqs, psd = signal.periodogram(fast.numpy(), fs=SR)
    assert abs(freqs[np.argmax(psd)] - 1_000 * factor) < 2


def test_speed_keeps_batch_lengths_right_and_the_crop_bound(corpus):
    manifest, _ = corpus
    cfg = AugmentConfig(speed_prob=1.0, speed_range=(0.9, 1.1))
    batch = AudioDataset(manifest, max_sample_size=45_000, seed=0, augment=cfg)[(0, [0, 1, 2, 3, 4])]
    for row, index in enumerate(range(5)):
        factor = round(Augmenter(cfg, manifest).speed_factor(utterance_generators(0, 0, index)["speed"]), 2)
        expected = min(math.ceil(manifest[index].num_samples / factor), 45_000)
        assert abs(int(batch["audio_lens"][row]) - expected) <= 1, (index, factor)
        assert int(batch["audio_lens"][row]) <= 45_000
        assert batch["audio"][row, int(batch["audio_lens"][row]):].abs().sum() == 0


@pytest.mark.parametrize("source", ["white", "pink", "brown", "babble", "noise_dir"])
def test_added_noise_has_the_drawn_snr(corpus, source):
    manifest, noise_dir = corpus
    cfg = AugmentConfig(noise_colors=(source,) if source in ("white", "pink", "brown") else ("white",),
                        noise_dir=noise_dir, snr_db=(0.0, 20.0), noise_dir_prob=1.0, babble_prob=1.0)
    augmenter = Augmenter(cfg, manifest)
    clean = torch.from_numpy(voiced(40_000, 0))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        noise = {"babble": lambda: augmenter.babble(clean.numel(), 0, rng),
                 "noise_dir": lambda: augmenter.file_noise(clean.numel(), rng)}.get(source, lambda: augmenter.colored_noise(clean.numel(), rng))()
        drawn = np.random.default_rng(seed)
        drawn.bit_generator.state = rng.bit_generator.state  # the SNR is the next draw
        noisy = augmenter.add_noise(clean, noise, rng)
        assert abs(snr_db(clean, noisy) - drawn.uniform(0.0, 20.0)) < 0.05


def test_noise_colors_have_their_spectral_slopes(corpus):
    manifest, _ = corpus
    augmenter = Augmenter(AugmentConfig(noise_colors=("white", "pink", "brown")), manifest)
    for color, exponent in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        noise = Augmenter(AugmentConfig(noise_colors=(color,)), manifest).colored_noise(160_000, np.random.default_rng(0))
        freqs, psd = signal.welch(noise.numpy(), fs=SR, nperseg=4096)
        band = (freqs > 50) & (freqs < 5_000)
        slope = np.polyfit(np.log(freqs[band]), np.log(psd[band]), 1)[0]
        assert abs(slope + exponent) < 0.15, (color, slope)
    assert augmenter.cfg.noise_colors == ("white", "pink", "brown")


def test_babble_is_other_utterances_of_the_corpus(corpus):
    manifest, _ = corpus
    augmenter = Augmenter(AugmentConfig(babble_prob=1.0, babble_speakers=(1, 1)), manifest)
    voices = [load_audio(manifest.audio_path(i)).double().numpy() for i in range(len(manifest))]
    for seed in range(4):
        babble = augmenter.babble(8_000, 2, np.random.default_rng(seed)).double().numpy()
        # one talker at unit RMS: a window of one of the other utterances (normalized cross-correlation 1)
        best = []
        for voice in voices:
            dot = signal.correlate(voice, babble, mode="valid", method="fft")
            energy = np.convolve(voice**2, np.ones(babble.size), mode="valid")
            best.append(float(np.max(dot / np.sqrt(energy * (babble**2).sum()))))
        assert max(best) > 0.9999 and best[2] < 0.9, best  # never the utterance itself


def test_reverb_keeps_length_and_timing_and_spreads_energy(corpus):
    manifest, _ = corpus
    augmenter = Augmenter(AugmentConfig(reverb_prob=1.0, reverb_rt60=(0.5, 0.7)), manifest)
    click = torch.zeros(16_000)
    click[1_000] = 1.0
    wet = augmenter.reverberate(click, np.random.default_rng(0))
    assert wet.numel() == click.numel() and int(wet.abs().argmax()) == 1_000  # the direct path, no added delay
    tail = wet[1_000 + 800 :].pow(2).sum() / wet.pow(2).sum()  # after 50 ms
    assert tail > 0.05
    assert torch.equal(wet, augmenter.reverberate(click, np.random.default_rng(0)))
    assert not torch.equal(wet, augmenter.reverberate(click, np.random.default_rng(1)))


def test_telephone_removes_the_band_above_3400_hz():
    white = torch.from_numpy(np.random.default_rng(0).standard_normal(32_000).astype("float32")) * 0.1
    phone = Augmenter.telephone(white)
    assert phone.numel() == white.numel()
    assert band_energy(phone, 3_600, 8_000) < 1e-5 * band_energy(white, 3_600, 8_000)
    assert band_energy(phone, 50, 200) < 0.1 * band_energy(white, 50, 200)  # the 300 Hz high-pass
    assert band_energy(phone, 500, 3_000) > 0.7 * band_energy(white, 500, 3_000)


def test_lowpass_band_limits_at_the_cutoff():
    white = torch.from_numpy(np.random.default_rng(0).standard_normal(32_000).astype("float32")) * 0.1
    narrow = Augmenter.lowpass(white, 3_000.0)
    assert band_energy(narrow, 4_500, 8_000) < 1e-3 * band_energy(white, 4_500, 8_000)
    assert band_energy(narrow, 100, 2_500) > 0.8 * band_energy(white, 100, 2_500)


def test_gain_scales_by_the_drawn_decibels(corpus):
    manifest, _ = corpus
    cfg = AugmentConfig(gain_prob=1.0, gain_db=(-12.0, 6.0))
    clean = torch.from_numpy(voiced(16_000, 3))
    rngs = utterance_generators(0, 0, 0)
    drawn = np.random.default_rng(0)
    drawn.bit_generator.state = rngs["gain"].bit_generator.state
    drawn.random()  # the coin
    gain = drawn.uniform(-12.0, 6.0)
    torch.testing.assert_close(Augmenter(cfg, manifest)(clean, rngs, 0), clean * 10 ** (gain / 20))


def test_bad_noise_folder_and_settings_get_one_line_errors(corpus, tmp_path):
    manifest, _ = corpus
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    for folder in (str(tmp_path / "missing"), str(empty)):
        with pytest.raises(ValueError) as error:
            AudioDataset(manifest, augment=AugmentConfig(noise_dir_prob=0.5, noise_dir=folder))
        assert folder in str(error.value) and "\n" not in str(error.value)
    for bad in ({"speed_prob": 1.5}, {"snr_db": (20.0, 5.0)}, {"noise_colors": ("purple",)}, {"lowpass_hz": (1000.0, 9000.0)}):
        with pytest.raises(ValueError, match=f"data.augment.{next(iter(bad))}"):
            Augmenter(AugmentConfig(gain_prob=1.0, **bad), manifest)


def test_an_unreadable_noise_file_is_named_and_skipped(corpus, tmp_path, caplog):
    manifest, _ = corpus
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.wav").write_bytes(b"RIFF not really")
    augmenter = Augmenter(AugmentConfig(noise_dir_prob=1.0, noise_dir=str(tmp_path / "broken")), manifest)
    clean = torch.from_numpy(voiced(8_000, 0))
    rngs = utterance_generators(0, 0, 0)
    assert torch.equal(augmenter(clean, rngs, 0), clean)
    assert "bad.wav" in caplog.text


def test_overrides_reach_the_augment_section_and_survive_config_json():
    cfg = resolve_run_config("tiny", {"data.augment.speed_prob": 0.5, "data.augment.snr_db": [0, 10],
                                      "data.augment.noise_colors": ("pink",)})
    assert cfg.data.augment.speed_prob == 0.5 and cfg.data.augment.snr_db == (0, 10) and cfg.data.augment.active
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="data.augment.speed_rate"):
        resolve_run_config("tiny", {"data.augment.speed_rate": 0.5})
