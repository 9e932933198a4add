"""On-the-fly augmentation of training audio: speed, reverberation, additive noise, channel, gain.

Every draw an utterance gets comes from one key made of (run seed, epoch, manifest index), as
its crop does and as its masks do in the model (keyed_noise.py): a resumed run and a torchrun
run see exactly the audio an uninterrupted single-process run sees, with no RNG state to save.
Each effect has its own generator spawned from that key, so turning one effect on or off does
not change what the others draw.

The order follows the signal path: speed (before the crop, so the crop still bounds the
length) -> room -> additive noise -> channel -> gain. The signal work is library calls:
torchaudio (resample, add_noise, biquad, mu-law, gain), pyroomacoustics (image-source room
impulse responses), colorednoise (1/f^beta noise) and scipy (FFT convolution, Butterworth filters).
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from speechssl.audio import SAMPLE_RATE
from speechssl.data.manifest import AUDIO_EXTENSIONS, Manifest
from speechssl.model.keyed_noise import combine_keys

if TYPE_CHECKING:
    from speechssl.train.config import AugmentConfig

log = logging.getLogger(__name__)

AUGMENT_STREAM = 7  # separates these keys from the crop's and the model's (keyed_noise streams 0-5)
EFFECTS = ("speed", "reverb", "noise", "babble", "noise_dir", "telephone", "lowpass", "gain")
COLOR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectral density ~ 1 / f^exponent


@contextlib.contextmanager
def one_thread():
    """Augment on one thread wherever it runs (a loader worker has 1, the main process and each
    torchrun rank their own count): sums split across threads add in another order, and the
    audio must not depend on that."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def utterance_generators(seed: int, epoch: int, index: int) -> dict[str, np.random.Generator]:
    """One numpy generator per effect, all spawned from the key (seed, epoch, manifest index)."""
    key = int(combine_keys(seed, epoch, index, AUGMENT_STREAM)) % (1 << 64)
    children = np.random.SeedSequence(key).spawn(len(EFFECTS))
    return {name: np.random.default_rng(child) for name, child in zip(EFFECTS, children)}


def find_noise_files(folder: str) -> list[str]:
    """The audio files under ``folder`` (recursively, sorted: the same list on every rank)."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{folder}: data.augment.noise_dir is not a folder")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise ValueError(f"{folder}: data.augment.noise_dir holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return files


def fit_length(noise: torch.Tensor, samples: int, rng: np.random.Generator) -> torch.Tensor:
    """A ``(samples,)`` stretch of ``noise``: a random window of a longer one, a tiled shorter one."""
    if noise.numel() < samples:
        noise = noise.repeat(math.ceil(samples / noise.numel()))
    start = int(rng.integers(noise.numel() - samples + 1))
    return noise[start : start + samples]


def read_stretch(path: str, samples: int, rng: np.random.Generator) -> torch.Tensor | None:
    """``(samples,)`` at 16 kHz from a random place in an audio file, tiled when the file is
    shorter; only that stretch is read (MUSAN and Libri-light files run minutes). None, with a
    warning naming the file, when it cannot be read."""
    import soundfile

    try:
        info = soundfile.info(path)
        needed = min(info.frames, math.ceil(samples * info.samplerate / SAMPLE_RATE) + 1)
        start = int(rng.integers(info.frames - needed + 1))
        data, rate = soundfile.read(path, start=start, frames=needed, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for unreadable files
        log.warning("augmentation skips %s: %s", path, error)
        return None
    audio = torch.from_numpy(data.T.copy()).mean(0)  # (channels, samples) -> (samples,)
    if audio.numel() == 0:
        return None
    if rate != SAMPLE_RATE:
        import torchaudio.functional as F

        audio = F.resample(audio, rate, SAMPLE_RATE)
    return fit_length(audio, samples, rng)


def _check_range(name: str, bounds, low: float = -math.inf) -> None:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
        raise ValueError(f"data.augment.{name} must be (min, max) with {low} <= min <= max, got {bounds!r}")


class Augmenter:
    """Applies :class:`~speechssl.train.config.AugmentConfig` to one utterance at a time.

    Args:
        cfg: the probabilities and ranges.
        corpus: the training manifest (babble draws other utterances from it).
    """

    def __init__(self, cfg: AugmentConfig, corpus: Manifest):
        for name in EFFECTS:
            prob = getattr(cfg, f"{name}_prob")
            if not 0.0 <= prob <= 1.0:
                raise ValueError(f"data.augment.{name}_prob must lie in [0, 1], got {prob}")
        _check_range("speed_range", cfg.speed_range, 0.5)
        _check_range("reverb_rt60", cfg.reverb_rt60, 0.05)
        _check_range("babble_speakers", cfg.babble_speakers, 1)
        _check_range("snr_db", cfg.snr_db)
        _check_range("lowpass_hz", cfg.lowpass_hz, 100.0)
        if cfg.lowpass_hz[1] >= SAMPLE_RATE / 2:
            raise ValueError(f"data.augment.lowpass_hz must stay below {SAMPLE_RATE // 2} Hz, got {cfg.lowpass_hz!r}")
        _check_range("gain_db", cfg.gain_db)
        if cfg.reverb_max_order < 0:
            raise ValueError(f"data.augment.reverb_max_order must be >= 0, got {cfg.reverb_max_order}")
        unknown = set(cfg.noise_colors) - set(COLOR_EXPONENTS)
        if unknown or not cfg.noise_colors:
            raise ValueError(f"data.augment.noise_colors must be some of {sorted(COLOR_EXPONENTS)}, got {cfg.noise_colors!r}")
        if cfg.babble_prob > 0 and len(corpus) < 2:
            raise ValueError("data.augment.babble_prob needs a training corpus of at least 2 utterances")
        self.cfg, self.corpus = cfg, corpus
        self.noise_files = find_noise_files(cfg.noise_dir) if cfg.noise_dir_prob > 0 else []

    # ---- speed: before the crop

    def speed_factor(self, rng: np.random.Generator) -> float:
        """1.0, or a factor drawn in ``speed_range`` on a grid of 0.01."""
        applied = rng.random() < self.cfg.speed_prob
        low, high = self.cfg.speed_range
        hundredths = int(rng.integers(round(low * 100), round(high * 100) + 1))
        return hundredths / 100 if applied else 1.0

    @staticmethod
    def speed(audio: torch.Tensor, factor: float) -> torch.Tensor:
        """``(S,)`` -> ``(ceil(S / factor),)``: played ``factor`` times faster (tempo and pitch).

        Resampling from ``SAMPLE_RATE * factor`` to ``SAMPLE_RATE`` (Kaldi's speed perturbation).
        The rates are whole multiples of 160 Hz, so their ratio reduces to at most 100ths and the
        sinc kernel stays small; torchaudio's ``speed`` would truncate ``factor * rate`` to int.
        """
        import torchaudio.functional as F

        hundredths = round(factor * 100)
        if hundredths == 100:
            return audio
        return F.resample(audio, SAMPLE_RATE // 100 * hundredths, SAMPLE_RATE)

    # ---- the rest: after the crop

    def __call__(self, audio: torch.Tensor, rngs: dict[str, np.random.Generator], index: int) -> torch.Tensor:
        """``(S,)`` -> ``(S,)``: room, additive noises, channel and gain, each with its probability."""
        c = self.cfg
        if rngs["reverb"].random() < c.reverb_prob:
            audio = self.reverberate(audio, rngs["reverb"])
        if rngs["noise"].random() < c.noise_prob:
            audio = self.add_noise(audio, self.colored_noise(audio.numel(), rngs["noise"]), rngs["noise"])
        if rngs["babble"].random() < c.babble_prob:
            audio = self.add_noise(audio, self.babble(audio.numel(), index, rngs["babble"]), rngs["babble"])
        if rngs["noise_dir"].random() < c.noise_dir_prob:
            audio = self.add_noise(audio, self.file_noise(audio.numel(), rngs["noise_dir"]), rngs["noise_dir"])
        if rngs["telephone"].random() < c.telephone_prob:
            audio = self.telephone(audio)
        if rngs["lowpass"].random() < c.lowpass_prob:
            audio = self.lowpass(audio, float(rngs["lowpass"].uniform(*c.lowpass_hz)))
        if rngs["gain"].random() < c.gain_prob:
            import torchaudio.functional as F

            audio = F.gain(audio, float(rngs["gain"].uniform(*c.gain_db)))
        return audio

    def room_impulse_response(self, rng: np.random.Generator) -> np.ndarray | None:
        """A shoebox room (3-10 x 3-8 x 2.4-4 m, RT60 drawn in ``reverb_rt60``, source and
        microphone anywhere 0.5 m from the walls) by the image-source method, reflections up to
        ``reverb_max_order`` (the full order is 20-80 and costs 0.06-1.7 s per response); None
        when the RT60 is too short for the room (absorption above 1)."""
        import pyroomacoustics as pra

        pra.constants.set("num_threads", 1)  # see one_thread()
        dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        rt60 = rng.uniform(*self.cfg.reverb_rt60)
        source, mic = rng.uniform(0.5, dims - 0.5), rng.uniform(0.5, dims - 0.5)
        try:
            absorption, full_order = pra.inverse_sabine(rt60, dims)
        except ValueError:
            return None
        room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption),
                           max_order=min(full_order, self.cfg.reverb_max_order))
        room.add_source(source)
        room.add_microphone(mic)
        room.compute_rir()
        return np.asarray(room.rir[0][0])

    def reverberate(self, audio: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Convolve with a drawn room response from its direct path on (no added delay), at the
        input's RMS level (loudness is the gain effect's job)."""
        from scipy import signal

        rir = self.room_impulse_response(rng)
        if rir is None:
            return audio
        rir = rir[int(np.argmax(np.abs(rir))) :].astype(np.float32)
        # scipy pads to a fast FFT length; torchaudio's fftconvolve takes len(a) + len(b) - 1 as
        # it comes and was 15x slower here (27 vs 1.8 ms for 4 s of audio)
        wet = torch.from_numpy(signal.fftconvolve(audio.numpy(), rir)[: audio.numel()]).to(audio.dtype)
        return wet * (audio.pow(2).mean().sqrt() / wet.pow(2).mean().sqrt().clamp(min=1e-8))

    def add_noise(self, audio: torch.Tensor, noise: torch.Tensor | None, rng: np.random.Generator) -> torch.Tensor:
        """``audio + noise`` scaled to an SNR drawn in ``snr_db`` (over the whole utterance)."""
        import torchaudio.functional as F

        snr = float(rng.uniform(*self.cfg.snr_db))
        if noise is None or not bool(noise.abs().max() > 0):  # silent noise has no level to set
            return audio
        return F.add_noise(audio[None], noise[None].to(audio.dtype), torch.tensor([snr]))[0]

    def colored_noise(self, samples: int, rng: np.random.Generator) -> torch.Tensor:
        import colorednoise
        from scipy.fft import next_fast_len

        color = self.cfg.noise_colors[int(rng.integers(len(self.cfg.noise_colors)))]
        # made at a fast FFT length and cut: an utterance's length can have large prime factors
        noise = colorednoise.powerlaw_psd_gaussian(COLOR_EXPONENTS[color], next_fast_len(samples), random_state=rng)
        return torch.from_numpy(noise[:samples]).float()

    def babble(self, samples: int, index: int, rng: np.random.Generator) -> torch.Tensor:
        """The sum of 1-N other utterances of the corpus, each at the same RMS level."""
        low, high = self.cfg.babble_speakers
        talkers = int(rng.integers(low, high + 1))
        others = rng.choice(len(self.corpus) - 1, size=min(talkers, len(self.corpus) - 1), replace=False)
        mix = torch.zeros(samples)
        for other in others.tolist():
            voice = read_stretch(str(self.corpus.audio_path(other + (other >= index))), samples, rng)  # never itself
            if voice is not None:
                mix += voice / voice.pow(2).mean().sqrt().clamp(min=1e-8)
        return mix

    def file_noise(self, samples: int, rng: np.random.Generator) -> torch.Tensor | None:
        """A random stretch of a random file of ``noise_dir``."""
        return read_stretch(self.noise_files[int(rng.integers(len(self.noise_files)))], samples, rng)

    @staticmethod
    def telephone(audio: torch.Tensor) -> torch.Tensor:
        """A narrowband telephone line: 8 kHz sampling with the anti-alias cutoff at 3400 Hz,
        a 300 Hz high-pass, G.711 mu-law companding (8 bits), then back to 16 kHz."""
        import torchaudio.functional as F

        # Long sinc kernels both ways (width 24, not 6): the band above 3.6 kHz falls by 80 dB, not 25.
        band = dict(rolloff=3_400 / 4_000, lowpass_filter_width=24)
        narrow = F.resample(audio, SAMPLE_RATE, 8_000, **band)
        narrow = F.highpass_biquad(narrow, 8_000, 300.0)
        peak = narrow.abs().max().clamp(min=1e-8)  # mu-law codes [-1, 1]: scale in and back out
        narrow = F.mu_law_decoding(F.mu_law_encoding(narrow / peak, 256), 256) * peak
        return F.resample(narrow, 8_000, SAMPLE_RATE, **band)[: audio.numel()]

    @staticmethod
    def lowpass(audio: torch.Tensor, cutoff_hz: float) -> torch.Tensor:
        """Band-limiting: an 8th-order Butterworth low-pass (48 dB per octave; torchaudio's biquad
        is 2nd order, too gentle to remove a band)."""
        from scipy import signal

        sos = signal.butter(8, cutoff_hz, btype="low", fs=SAMPLE_RATE, output="sos")
        return torch.from_numpy(signal.sosfilt(sos, audio.double().numpy())).to(audio.dtype)
