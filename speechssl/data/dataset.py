"""Manifest rows -> padded batches; unreadable files are reported by name and left out."""

from __future__ import annotations

import logging
import zlib

import torch

from speechssl.audio import load_audio, normalize_waveform, pad_waveforms
from speechssl.data.manifest import Manifest

log = logging.getLogger(__name__)


class AudioDataset(torch.utils.data.Dataset):
    """Loads the batches a :class:`~speechssl.data.sampler.LengthBucketSampler` yields.

    ``dataset[(epoch, indices)]`` returns::

        {
            "audio": (B, S) float32, zero-padded,
            "audio_lens": (B,) long, valid samples,
            "indices": (B,) long, manifest rows (utterance identity for keyed noise),
            "ids": list of B utterance ids,
            "texts": list of B transcripts (labeled manifests only),
            "failed": list of (path, reason) for files that could not be used,
        }

    Utterances longer than ``max_sample_size`` get a random crop whose start depends only on
    (seed, epoch, index): the same on every rank and after a resume. Use it with
    ``DataLoader(dataset, batch_size=None, sampler=sampler)``.
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        max_sample_size: int | None = None,
        min_samples: int = 400,
        normalize: bool = False,
        seed: int = 0,
    ):
        self.manifest = manifest
        self.max_sample_size, self.min_samples = max_sample_size, min_samples
        self.normalize, self.seed = normalize, seed

    def __len__(self) -> int:
        return len(self.manifest)

    def crop(self, audio: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
        if not self.max_sample_size or audio.numel() <= self.max_sample_size:
            return audio
        key = zlib.crc32(f"{self.seed}/{epoch}/{index}".encode())
        start = int(torch.randint(audio.numel() - self.max_sample_size + 1, (1,), generator=torch.Generator().manual_seed(key)))
        return audio[start : start + self.max_sample_size]

    def load(self, index: int, epoch: int) -> torch.Tensor:
        path = self.manifest.audio_path(index)
        audio = load_audio(path)
        if audio.numel() < self.min_samples:
            raise ValueError(f"{path}: {audio.numel()} samples, shorter than the model's {self.min_samples}-sample minimum")
        audio = self.crop(audio, epoch, index)
        # Normalize after cropping: the model sees statistics of what it is given (fairseq order).
        return normalize_waveform(audio) if self.normalize else audio

    def __getitem__(self, item: tuple[int, list[int]]) -> dict:
        epoch, indices = item
        clips, kept, failed = [], [], []
        for index in indices:
            try:
                clips.append(self.load(index, epoch))
                kept.append(index)
            except ValueError as error:  # load_audio names the file in every error it raises
                log.warning("skipping %s", error)
                failed.append((str(self.manifest.audio_path(index)), str(error)))
        return collate(clips, kept, self.manifest, failed)


def collate(clips: list[torch.Tensor], indices: list[int], manifest: Manifest, failed: list) -> dict:
    audio, lengths = pad_waveforms(clips)
    batch = {
        "audio": audio,
        "audio_lens": lengths,
        "indices": torch.tensor(indices, dtype=torch.long),
        "ids": [manifest[i].id for i in indices],
        "failed": failed,
    }
    if manifest.labeled:
        batch["texts"] = [manifest[i].text for i in indices]
    return batch
