"""Signal constants and waveform helpers shared by every module that touches audio."""

from __future__ import annotations

import torch

SAMPLE_RATE = 16_000  # every model in speechssl consumes 16 kHz mono audio


def pad_waveforms(waveforms: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(samples,)`` clips -> ``(batch, longest)`` zero-padded audio and ``(batch,)`` lengths."""
    lengths = torch.tensor([w.numel() for w in waveforms], dtype=torch.long)
    batch = torch.zeros(len(waveforms), int(lengths.max()) if waveforms else 0)
    for row, wave in enumerate(waveforms):
        batch[row, : wave.numel()] = wave
    return batch, lengths


def normalize_waveform(waveform: torch.Tensor, lengths: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Zero-mean, unit-variance per utterance over its valid samples (fairseq ``task.normalize``).

    Normalizing a padded batch as one tensor would mix utterances (fairseq#5609); each row uses
    only its own first ``lengths[b]`` samples, and padding is left at zero.

    Args:
        waveform: ``(batch, samples)`` or ``(samples,)``.
        lengths: ``(batch,)`` valid samples per row; ``None`` means every sample is valid.
    """
    squeeze = waveform.dim() == 1
    x = waveform.unsqueeze(0) if squeeze else waveform
    B, S = x.shape
    if lengths is None:
        lengths = torch.full((B,), S, device=x.device)
    valid = torch.arange(S, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, S)
    count = valid.sum(1, keepdim=True).clamp(min=1)
    xf = x.float() * valid
    mean = xf.sum(1, keepdim=True) / count
    var = ((xf - mean) * valid).pow(2).sum(1, keepdim=True) / count
    out = ((xf - mean) / torch.sqrt(var + eps) * valid).to(x.dtype)
    return out.squeeze(0) if squeeze else out


def load_audio(source, sample_rate: int = SAMPLE_RATE, normalize: bool = False) -> torch.Tensor:
    """Audio file path, numpy array or tensor -> float32 mono ``(samples,)`` at ``sample_rate``.

    Arrays and tensors are taken to be at ``sample_rate`` already; ``(channels, samples)`` input
    is averaged to mono. Files are read with soundfile (wav, flac, ogg, mp3; 8 to 32 bit),
    downmixed and resampled. ``normalize`` gives zero mean and unit variance (the input of
    layer-norm models such as LARGE). Errors are ``ValueError`` naming the file.
    """
    import numpy as np

    if isinstance(source, torch.Tensor):
        audio = source.detach().float().cpu()
    elif isinstance(source, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(source)).float()
    else:
        audio = _read_file(str(source), sample_rate)
    if audio.dim() == 2:
        audio = audio.mean(0)
    if audio.dim() != 1:
        raise ValueError(f"audio must be (samples,) or (channels, samples), got shape {tuple(audio.shape)}")
    return normalize_waveform(audio) if normalize else audio


def _read_file(path: str, sample_rate: int) -> torch.Tensor:
    import os

    import numpy as np
    import soundfile

    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)  # (samples, channels)
    except Exception as error:  # soundfile raises several types for unreadable files
        raise ValueError(f"{path}: cannot read audio ({error})") from error
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the file holds no audio samples")
    # numpy's isfinite takes one byte per sample; torch's took ~7 bytes (abs and comparisons)
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: audio contains NaN or inf samples")
    # (samples, channels) -> (samples,) without a transposed copy of the file: mono is the read
    # array itself, several channels are averaged along the rows
    audio = torch.from_numpy(data[:, 0]) if data.shape[1] == 1 else torch.from_numpy(data).mean(1)
    if file_rate != sample_rate:
        import torchaudio.functional

        audio = torchaudio.functional.resample(audio, file_rate, sample_rate)
    return audio
