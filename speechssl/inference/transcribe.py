"""Speech -> text with a CTC model: batched by length, any duration in bounded memory.

Audio longer than ``window_seconds`` runs in overlapping windows whose per-frame
log-probabilities are stitched on the global 20 ms grid (the same plan feature extraction
uses), then decoded once, so the transcript has no seams. Word times come from a forced
alignment of the final transcript (``timestamps="align"``, done in segments of at most
``align_seconds`` so memory stays bounded) or from the decoded spikes (``"frames"``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from speechssl.audio import SAMPLE_RATE, normalize_waveform, pad_waveforms
from speechssl.decoding.greedy import TokenPath, greedy_decode
from speechssl.decoding.timestamps import FrameGrid, Word, spike_spans, token_spans, words_from_spans
from speechssl.inference.backend import as_backend
from speechssl.inference.features import stitch_windows

log = logging.getLogger(__name__)
Decoder = Callable[[torch.Tensor, torch.Tensor], list[TokenPath]]


@dataclass
class Transcript:
    id: str
    text: str
    duration: float  # seconds of audio
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0  # the model's mean best-class posterior over the frames, 0..1

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "duration": round(self.duration, 3),
                "confidence": round(self.confidence, 4), "words": [w.to_dict() for w in self.words]}


class Transcriber:
    """A CTC model with its tokenizer, a decoder (greedy unless given) and the windowing settings.

    Args:
        model: a :class:`~speechssl.model.Wav2Vec2ForCTC` with a tokenizer, or an inference backend
            (:class:`~speechssl.inference.onnx_runtime.OnnxBackend` for an exported ``.onnx``).
        decoder: ``(log_probs (B, T, V), lengths (B,)) -> paths``; :func:`greedy_decode` or a
            :class:`~speechssl.decoding.beam.BeamSearchDecoder`.
        timestamps: ``"align"``, ``"frames"`` or ``"none"``.
        window_seconds / overlap_seconds: windowing of long audio (None: one pass).
        windows_per_batch: windows per forward pass; peak memory grows with it (a 30 s window
            of a BASE model takes ~0.6 GB of activations on CPU).
    """

    def __init__(
        self,
        model: nn.Module | Any,
        decoder: Decoder | None = None,
        *,
        timestamps: str = "align",
        window_seconds: float | None = 30.0,
        overlap_seconds: float = 5.0,
        windows_per_batch: int = 1,
        align_seconds: float = 30.0,
    ):
        if isinstance(model, nn.Module):
            model.eval()
        self.backend = as_backend(model)
        if not self.backend.is_ctc:
            raise ValueError(f"transcription needs a CTC model; got a {self.backend.name} (fine-tune it first)")
        if self.backend.tokenizer is None:
            raise ValueError("the model has no tokenizer (vocabulary); Hugging Face models need their vocab.json")
        if timestamps not in ("align", "frames", "none"):
            raise ValueError(f"timestamps must be align, frames or none, not {timestamps!r}")
        self.tokenizer = self.backend.tokenizer
        self.decoder = decoder or greedy_decode
        self.timestamps = timestamps
        self.window_seconds, self.overlap_seconds = window_seconds, overlap_seconds
        self.windows_per_batch = windows_per_batch
        fe = self.backend.cfg.feature_encoder
        self.feature_cfg = fe
        self.grid = FrameGrid(fe.stride, SAMPLE_RATE)
        self.align_frames = int(align_seconds * SAMPLE_RATE / fe.stride)

    @property
    def min_samples(self) -> int:
        return self.feature_cfg.receptive_field

    # ---------------------------------------------------------------- acoustic model

    @torch.no_grad()
    def log_probs(self, waveforms: list[torch.Tensor], normalize: bool = True, norm_stats=None) -> list[torch.Tensor]:
        """One padded forward pass -> per waveform ``(frames, classes)`` fp32 log-probabilities."""
        batch, lengths = pad_waveforms(waveforms)
        if normalize and self.backend.cfg.normalize_waveform:
            batch = normalize_waveform(batch, lengths)
        out, frame_lengths = self.backend.run(batch, lengths, ["logits"], norm_stats)
        log_probs = out["logits"].float().log_softmax(-1)
        return [log_probs[i, : frame_lengths[i]].cpu() for i in range(len(waveforms))]

    def is_long(self, num_samples: int) -> bool:
        return self.window_seconds is not None and num_samples > self.window_seconds * SAMPLE_RATE

    def utterance_log_probs(self, audio: torch.Tensor) -> torch.Tensor:
        """``(samples,)`` -> ``(frames, classes)``, windowed when longer than the window."""
        if not self.is_long(audio.numel()):
            return self.log_probs([audio])[0]
        if self.backend.cfg.normalize_waveform:
            audio = normalize_waveform(audio)  # over the whole utterance, as one pass would
        stats = self.backend.utterance_norm_stats(audio)
        stitched = stitch_windows(
            lambda waves: [{"log_probs": lp} for lp in self.log_probs(waves, normalize=False, norm_stats=stats)],
            audio, self.feature_cfg, self.window_seconds, self.overlap_seconds, self.windows_per_batch,
        )
        return stitched["log_probs"]

    # ---------------------------------------------------------------- decoding

    def decode(self, log_probs: list[torch.Tensor], ids: list[str]) -> list[Transcript]:
        lengths = torch.tensor([lp.shape[0] for lp in log_probs])
        padded = torch.nn.utils.rnn.pad_sequence(log_probs, batch_first=True)
        transcripts = []
        for utt_id, lp, path in zip(ids, log_probs, self.decoder(padded, lengths)):
            text = " ".join(path.words) if path.words is not None else self.tokenizer.decode(path.tokens)
            words = self.word_times(lp, path) if self.timestamps != "none" else []
            confidence = lp.max(-1).values.exp().mean().item() if lp.shape[0] else 0.0
            transcripts.append(Transcript(utt_id, text, self.grid.time(lp.shape[0]) if lp.shape[0] else 0.0, words, confidence))
        return transcripts

    def word_times(self, log_probs: torch.Tensor, path: TokenPath) -> list[Word]:
        spans = self._aligned_spans(log_probs, path) if self.timestamps == "align" else None
        if spans is None:
            spans = spike_spans(log_probs, path)
        words = words_from_spans(self.tokenizer, path.tokens, spans, self.grid)
        if path.words is not None and len(path.words) == len(words):
            for word, text in zip(words, path.words):  # a lexicon decoder's words (e.g. <unk>) win
                word.text = text
        return words

    def _aligned_spans(self, log_probs: torch.Tensor, path: TokenPath) -> list[tuple[int, int, float]] | None:
        """Forced alignment in segments of about ``align_frames``, cut before a decoded unit
        (at a word start where one is near): a whole-file alignment needs frames x units
        memory, and torchaudio's aligner crashes once that passes 2^31 (a 20-minute file).
        Every unit's spike lies inside its segment, so each segment is alignable."""
        word_starts = {positions[0] for _, positions in self.tokenizer.words(path.tokens)}
        cuts, segment_first, candidate = [0], 0, None  # candidate: the latest word start since the last cut
        for i in range(1, len(path.tokens)):
            if path.frames[i] - segment_first > self.align_frames:
                cut = candidate if candidate is not None else i
                cuts.append(cut)
                segment_first, candidate = path.frames[cut], None
            if i in word_starts and i > cuts[-1]:
                candidate = i
        cuts.append(len(path.tokens))
        spans = []
        for a, b in zip(cuts, cuts[1:]):
            first = path.frames[a] if a > 0 else 0
            last = path.frames[b] if b < len(path.tokens) else log_probs.shape[0]
            segment = token_spans(log_probs[first:last], path.tokens[a:b])
            if segment is None:
                return None
            spans += [(s + first, e + first, p) for s, e, p in segment]
        return spans

    def align(self, audio: torch.Tensor, text: str) -> list[Word]:
        """Word times of a known transcript (CTC forced alignment over the whole clip)."""
        log_probs = self.utterance_log_probs(audio)
        tokens = self.tokenizer.encode(text)
        spans = token_spans(log_probs, tokens)
        if spans is None:
            raise ValueError(f"the transcript ({len(tokens)} units) does not fit {log_probs.shape[0]} frames of audio")
        return words_from_spans(self.tokenizer, tokens, spans, self.grid)

    # ---------------------------------------------------------------- audio -> transcripts

    def transcribe(self, audios: list[torch.Tensor], ids: list[str] | None = None) -> list[Transcript]:
        """Transcribe ``(samples,)`` clips (16 kHz mono); short ones share one forward pass."""
        ids = ids if ids is not None else [str(i) for i in range(len(audios))]
        for utt_id, audio in zip(ids, audios):
            if audio.numel() < self.min_samples:
                raise ValueError(f"{utt_id}: {audio.numel()} samples, shorter than the model's {self.min_samples}-sample minimum")
        short = [i for i, a in enumerate(audios) if not self.is_long(a.numel())]
        log_probs: dict[int, torch.Tensor] = {}
        if short:
            log_probs.update(zip(short, self.log_probs([audios[i] for i in short])))
        for i, audio in enumerate(audios):
            if i not in log_probs:
                log_probs[i] = self.utterance_log_probs(audio)
        return self.decode([log_probs[i] for i in range(len(audios))], ids)
