"""Manifest rows -> padded batches; unreadable files are reported by name and left out."""

from __future__ import annotations

import logging
import math
import zlib
from typing import TYPE_CHECKING

import torch

from speechssl.audio import load_audio, normalize_waveform, pad_waveforms
from speechssl.data.augment import Augmenter, one_thread, utterance_generators
from speechssl.data.manifest import Manifest

if TYPE_CHECKING:
    from speechssl.train.config import AugmentConfig

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
    (seed, epoch, index): the same on every rank and after a resume; so do the augmentations
    ``augment`` turns on (speechssl/data/augment.py; the trainer gives it for training only). Use it with
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
        augment: AugmentConfig | None = None,
    ):
        self.manifest = manifest
        self.max_sample_size, self.min_samples = max_sample_size, min_samples
        self.normalize, self.seed = normalize, seed
        self.augmenter = Augmenter(augment, manifest) if augment is not None and augment.active else None

    def __len__(self) -> int:
        return len(self.manifest)

    def crop(self, audio: torch.Tensor, epoch: int, index: int, size: int | None = None) -> torch.Tensor:
        size = size or self.max_sample_size
        if not size or audio.numel() <= size:
            return audio
        key = zlib.crc32(f"{self.seed}/{epoch}/{index}".encode())
        start = int(torch.randint(audio.numel() - size + 1, (1,), generator=torch.Generator().manual_seed(key)))
        return audio[start : start + size]

    def load(self, index: int, epoch: int) -> torch.Tensor:
        path = self.manifest.audio_path(index)
        audio = load_audio(path)
        if audio.numel() < self.min_samples:
            raise ValueError(f"{path}: {audio.numel()} samples, shorter than the model's {self.min_samples}-sample minimum")
        if self.augmenter is None:
            audio = self.crop(audio, epoch, index)
        else:
            audio = self.augmented(audio, epoch, index)
        # Normalize after cropping: the model sees statistics of what it is given (fairseq order).
        return normalize_waveform(audio) if self.normalize else audio

    def augmented(self, audio: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
        rngs = utterance_generators(self.seed, epoch, index)
        factor = self.augmenter.speed_factor(rngs["speed"])
        with one_thread():
            if factor != 1.0 and audio.numel() / factor >= self.min_samples:
                # crop the span that speeds to the crop size, so the crop still bounds the length
                if self.max_sample_size:
                    audio = self.crop(audio, epoch, index, math.ceil(self.max_sample_size * factor))
                audio = self.augmenter.speed(audio, factor)
            return self.augmenter(self.crop(audio, epoch, index), rngs, index)

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
