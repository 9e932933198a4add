"""A minimal ctypes binding to libespeak-ng: text -> waveform + word start times.

The library comes from the PyPI package ``espeakng-loader`` (bundles libespeak-ng and its
data; no root needed) or, failing that, a system libespeak-ng (Debian ``libespeak-ng1``).
libespeak-ng keeps global state, so there is one :class:`Espeak` per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_ENDPAUSE = 0x1000
EVENT_LIST_TERMINATED, EVENT_WORD = 0, 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 3, 4, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character offset of the word
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the text
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Speech:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    word_starts: list[tuple[int, float]]  # (0-based character offset, start seconds) per word

    def resampled(self, sample_rate: int, peak: float = 0.9) -> np.ndarray:
        """The audio at ``sample_rate``, scaled to ``peak`` (one level across voices)."""
        import torch
        import torchaudio.functional

        audio = torchaudio.functional.resample(torch.from_numpy(self.audio), self.sample_rate, sample_rate)
        return (peak * audio / audio.abs().max().clamp(min=1e-3)).numpy()


def data_path() -> Path:
    """espeak-ng's data folder (voices, languages): espeakng-loader's, else the system's."""
    try:
        import espeakng_loader

        return Path(espeakng_loader.get_data_path())
    except ImportError:
        for candidate in ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/share/espeak-ng-data", "/usr/lib/espeak-ng-data"):
            if Path(candidate).is_dir():
                return Path(candidate)
        raise RuntimeError("espeak-ng data not found: pip install espeakng-loader (or apt-get install espeak-ng-data)") from None


def _load_library() -> tuple[ctypes.CDLL, bytes | None]:
    try:
        import espeakng_loader

        return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path().encode()
    except ImportError:
        name = ctypes.util.find_library("espeak-ng")
        if name is None:
            raise RuntimeError("libespeak-ng not found: pip install espeakng-loader (or apt-get install libespeak-ng1)") from None
        return ctypes.CDLL(name), None


class Espeak:
    def __init__(self):
        self.lib, data_path = _load_library()
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks: list[np.ndarray] = []
        self._words: list[tuple[int, float]] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: the library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            if events[i].type == EVENT_WORD:
                self._words.append((events[i].text_position - 1, events[i].audio_position / 1000.0))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50, word_gap: int = 0) -> Speech:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+f3"``); rate in words per minute, pitch and
        range 0-100, word gap in units of 10 ms."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range), (PARAM_WORDGAP, word_gap)):
            self.lib.espeak_SetParameter(param, value, 0)
        self._chunks, self._words = [], []
        data = text.encode("utf-8")
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status}) for {text!r}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0 if self._chunks else np.zeros(0, np.float32)
        return Speech(audio, self.sample_rate, list(self._words))
