"""The wav2vec 2.0 encoder and its two heads: contrastive pretraining and CTC."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.config import Wav2Vec2Config
from speechssl.model.dropout import Dropout
from speechssl.model.feature_encoder import (
    FeatureEncoder,
    NormStats,
    conv_output_length,
    conv_output_lengths,
    lengths_to_padding_mask,
)
from speechssl.model.keyed_noise import CHANNEL_MASK_STREAM, combine_keys
from speechssl.model.masking import compute_span_mask, sample_negatives
from speechssl.model.quantizer import GumbelQuantizer
from speechssl.model.transformer import Transformer


@dataclass
class EncoderOutput:
    context: torch.Tensor  # (B, T, E) transformer output (final LayerNorm applied for pre-LN)
    lengths: torch.Tensor  # (B,) valid frames
    padding_mask: torch.Tensor  # (B, T) bool, True on padded frames
    features: torch.Tensor  # (B, T, C) LayerNorm'd conv features, before projection and masking
    feature_penalty: torch.Tensor  # (B,) mean squared conv output over each utterance's valid frames
    hidden_states: list[torch.Tensor] = field(default_factory=list)  # input of layer 1, then each layer's output


class Wav2Vec2Encoder(nn.Module):
    """Waveform -> context vectors: conv features, LayerNorm, projection, masking, transformer."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.cfg = cfg
        conv_dim, embed_dim = cfg.feature_encoder.output_dim, cfg.transformer.embed_dim
        self.feature_encoder = FeatureEncoder(cfg.feature_encoder)
        self.feature_norm = nn.LayerNorm(conv_dim, eps=cfg.transformer.layer_norm_eps)
        self.projection = nn.Linear(conv_dim, embed_dim)
        self.dropout_input = Dropout(cfg.dropout_input)
        self.mask_embedding = nn.Parameter(torch.rand(embed_dim))  # fairseq mask_emb: U[0, 1)
        self.transformer = Transformer(cfg.transformer)
        # Input checks read values (a host sync on GPU); trainers that validate audio when
        # loading it switch them off.
        self.validate_inputs = True

    def num_frames(self, num_samples: int) -> int:
        """Frames out of a (padded) input of ``num_samples`` samples."""
        return conv_output_length(num_samples, self.cfg.feature_encoder.conv_layers)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """``(B,)`` valid samples -> ``(B,)`` valid frames."""
        return conv_output_lengths(lengths, self.cfg.feature_encoder.conv_layers)

    def check_inputs(self, waveform: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate and normalize the call: ``(B, S)`` waveform and ``(B,)`` lengths."""
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2:
            raise ValueError(f"waveform must be (samples,) or (batch, samples), got shape {tuple(waveform.shape)}")
        if not waveform.is_floating_point():
            raise ValueError(f"waveform must be floating point, got {waveform.dtype}")
        B, S = waveform.shape
        shortest = self.cfg.feature_encoder.receptive_field
        if S < shortest:
            raise ValueError(f"waveform of {S} samples is shorter than the receptive field ({shortest} samples)")
        if lengths is None:
            lengths = torch.full((B,), S, dtype=torch.long, device=waveform.device)
        elif lengths.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},), got {tuple(lengths.shape)}")
        if self.validate_inputs and not torch.compiler.is_compiling():
            if not bool(torch.isfinite(waveform).all()):
                raise ValueError("waveform contains NaN or inf values")
            if bool((lengths > S).any()) or bool((lengths < shortest).any()):
                raise ValueError(
                    f"lengths must lie in [{shortest}, {S}] samples (receptive field, padded length), got {lengths.tolist()}"
                )
        return waveform, lengths.to(device=waveform.device, dtype=torch.long)

    def forward(
        self,
        waveform: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        time_mask: torch.Tensor | None = None,
        channel_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        norm_stats: NormStats | None = None,
    ) -> EncoderOutput:
        """
        Args:
            waveform: ``(batch, samples)`` zero-padded audio (or ``(samples,)``).
            lengths: ``(batch,)`` valid samples; None when nothing is padded.
            time_mask: ``(batch, frames)`` bool; masked frames are replaced by the mask embedding.
            channel_mask: ``(batch, embed_dim)`` bool; masked channels are zeroed at every frame.
            output_hidden_states: collect the per-layer states (see :class:`Transformer`).
            norm_stats: utterance-level conv normalization statistics for windows of a long
                utterance (group-norm models; see ``FeatureEncoder.utterance_norm_stats``).
        """
        waveform, lengths = self.check_inputs(waveform, lengths)
        front = self.front_end(waveform, lengths, norm_stats)
        context, hidden_states = self.mask_and_contextualize(
            front.projected, front.padding_mask, time_mask, channel_mask, output_hidden_states
        )
        return EncoderOutput(context, front.lengths, front.padding_mask, front.features, front.feature_penalty, hidden_states)

    def front_end(self, waveform: torch.Tensor, lengths: torch.Tensor, norm_stats: NormStats | None = None) -> "FrontEndOutput":
        """Everything before masking: conv features, their penalty, LayerNorm and projection.

        Multi-mask pretraining runs this once per batch and the transformer once per mask copy.
        """
        conv, frame_lengths = self.feature_encoder(waveform, lengths, norm_stats)  # (B, T, C), (B,)
        padding_mask = lengths_to_padding_mask(frame_lengths, conv.shape[1])  # (B, T)
        valid = (~padding_mask).to(torch.float32)  # (B, T)
        per_frame = conv.float().pow(2).mean(-1)  # (B, T)
        feature_penalty = (per_frame * valid).sum(1) / valid.sum(1).clamp(min=1.0)  # (B,)
        features = self.feature_norm(conv)  # (B, T, C)
        return FrontEndOutput(self.projection(features), frame_lengths, padding_mask, features, feature_penalty)

    def mask_and_contextualize(
        self,
        projected: torch.Tensor,
        padding_mask: torch.Tensor,
        time_mask: torch.Tensor | None = None,
        channel_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, T, E)`` projected features -> input dropout, masks, transformer -> ``(B, T, E)``."""
        x = self.dropout_input(projected)  # (B, T, E)
        if time_mask is not None:
            x = torch.where(time_mask[..., None], self.mask_embedding.to(x.dtype), x)
        if channel_mask is not None:
            x = x.masked_fill(channel_mask[:, None, :], 0.0)
        return self.transformer(x, padding_mask, output_hidden_states)


@dataclass
class FrontEndOutput:
    projected: torch.Tensor  # (B, T, E) projected features, before input dropout and masking
    lengths: torch.Tensor  # (B,) valid frames
    padding_mask: torch.Tensor  # (B, T) bool, True on padded frames
    features: torch.Tensor  # (B, T, C) LayerNorm'd conv features (the quantizer's input)
    feature_penalty: torch.Tensor  # (B,) mean squared conv output over each utterance's valid frames


@dataclass
class PretrainingOutput:
    """Every loss term is a sum over the masked frames of this batch; ``num_masked`` is the
    normalizer, so a trainer can divide by the global count over micro-batches and ranks."""

    loss: torch.Tensor  # contrastive + diversity_weight * diversity + penalty_weight * feature_penalty
    contrastive_loss: torch.Tensor  # sum over masked frames of the InfoNCE cross-entropy (nats)
    diversity_loss: torch.Tensor  # (GV - prob_perplexity) / GV * num_masked
    feature_penalty: torch.Tensor  # sum over utterances of mean squared conv output * its masked frames
    num_masked: torch.Tensor  # masked frames (the sample size)
    num_correct: torch.Tensor  # masked frames whose positive has the top logit (not a tie of all)
    num_frames: torch.Tensor  # valid frames
    neg_is_pos: torch.Tensor  # negatives sharing their target's code in every group (count)
    code_perplexity: torch.Tensor
    prob_perplexity: torch.Tensor
    logits: torch.Tensor  # (B, T, 1 + K) positive first, over all frames (only masked rows count)
    time_mask: torch.Tensor  # (B, T) bool


def contrastive_logits(
    context: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor, codes: torch.Tensor, logit_temp: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity of each context vector to its target and its K negatives, / kappa.

    The similarity of every frame to every target of its utterance is one ``(T, T)`` matmul;
    negatives are then gathered as indices rather than as ``(B, T, K, D)`` vectors.
    A negative whose code equals the target's in every group is the same vector: its logit is
    -inf (fairseq compares the vectors themselves, which is the same test up to rounding).

    Args:
        context: ``(B, T, D)`` projected context vectors.
        targets: ``(B, T, D)`` projected quantized targets.
        negatives: ``(B, T, K)`` frame indices within the same utterance.
        codes: ``(B, T, G)`` quantizer codes of the targets.

    Returns:
        logits ``(B, T, 1 + K)`` in fp32 and the ``(B, T, K)`` bool neg-is-pos mask.
    """
    B, T, K = negatives.shape
    c = F.normalize(context.float(), dim=-1, eps=1e-8)
    q = F.normalize(targets.float(), dim=-1, eps=1e-8)
    similarity = torch.bmm(c, q.transpose(1, 2))  # (B, T, T): [b, t, s] = cos(c_t, q_s)
    positive = similarity.diagonal(dim1=1, dim2=2).unsqueeze(-1)  # (B, T, 1)
    negative = similarity.gather(2, negatives)  # (B, T, K)
    G = codes.shape[-1]
    negative_codes = codes.gather(1, negatives.view(B, T * K, 1).expand(-1, -1, G)).view(B, T, K, G)
    neg_is_pos = (negative_codes == codes[:, :, None, :]).all(-1)  # (B, T, K)
    negative = negative.masked_fill(neg_is_pos, float("-inf"))
    return torch.cat([positive, negative], dim=-1) / logit_temp, neg_is_pos


def contrastive_loss_terms(logits: torch.Tensor, time_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed InfoNCE loss (target index 0) and the count of correct predictions over masked frames.

    Correct follows fairseq: the positive is the argmax and not also the argmin (an all-equal
    row is not counted as correct).
    """
    weights = time_mask.to(logits.dtype)
    per_frame = torch.logsumexp(logits, dim=-1) - logits[..., 0]  # (B, T)
    loss = (per_frame * weights).sum()
    correct = (logits.argmax(-1) == 0) & (logits.argmin(-1) != 0) & time_mask
    return loss, correct.sum()


class Wav2Vec2ForPretraining(nn.Module):
    """Encoder + quantizer + the two projections into the ``final_dim`` comparison space."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.cfg = cfg
        self.encoder = Wav2Vec2Encoder(cfg)
        qcfg = cfg.quantizer
        self.quantizer = GumbelQuantizer(cfg.feature_encoder.output_dim, qcfg.num_groups, qcfg.num_vars, cfg.quantizer_dim)
        self.project_q = nn.Linear(cfg.quantizer_dim, cfg.final_dim)
        self.final_proj = nn.Linear(cfg.transformer.embed_dim, cfg.final_dim)
        self.dropout_features = Dropout(cfg.dropout_features)

    def forward(
        self,
        waveform: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        num_updates: int = 0,
        time_mask: torch.Tensor | None = None,
        negatives: torch.Tensor | None = None,
        utterance_keys: torch.Tensor | None = None,
        mask_copies: int = 1,
    ) -> PretrainingOutput:
        """
        Args:
            waveform: ``(batch, samples)`` zero-padded audio.
            lengths: ``(batch,)`` valid samples, or None.
            num_updates: optimizer updates so far; sets the Gumbel temperature.
            time_mask: ``(batch, frames)`` bool; drawn on the device when None.
            negatives: ``(batch, frames, K)`` frame indices; drawn on the device when None.
            utterance_keys: ``(batch,)`` int64; when given, every random draw of an utterance
                (mask, negatives, Gumbel noise) depends on its key alone, not on its batch.
            mask_copies: M > 1 runs the conv front end and the quantizer once and the transformer
                on M differently masked copies of each utterance (data2vec 2.0's multi-mask);
                the loss terms are those of M single-mask passes with the same masks. A given
                ``time_mask`` / ``negatives`` then has ``M * batch`` rows, copy-major.
        """
        cfg = self.cfg
        M = mask_copies
        waveform, lengths = self.encoder.check_inputs(waveform, lengths)
        B, T = waveform.shape[0], self.encoder.num_frames(waveform.shape[1])
        front = self.encoder.front_end(waveform, lengths)  # once, whatever the number of mask copies
        # Copy m of utterance b is row m * B + b; copy 0 keeps the utterance's own key, so one
        # copy is exactly the single-mask model.
        copy_keys = mask_copy_keys(utterance_keys, M)  # (M * B,) or None
        if time_mask is None:
            m = cfg.masking
            time_mask = compute_span_mask(
                (M * B, T), front.lengths.repeat(M), m.time_prob, m.time_length, m.time_min_masks, row_keys=copy_keys
            )
        padding_mask = front.padding_mask.repeat(M, 1)  # (M * B, T)
        time_mask = time_mask & ~padding_mask  # a caller's mask may not cover padding either
        context, _ = self.encoder.mask_and_contextualize(front.projected.repeat(M, 1, 1), padding_mask, time_mask)

        # The targets are the same for every copy: quantized once, from the unmasked features.
        temperature = cfg.quantizer.temperature(num_updates)
        copy_masks = time_mask.view(M, B, T)
        quantized = self.quantizer(self.dropout_features(front.features), copy_masks, temperature, utterance_keys)
        targets = self.project_q(quantized.quantized).repeat(M, 1, 1)  # (M * B, T, final_dim)
        context = self.final_proj(context)  # (M * B, T, final_dim)
        if negatives is None:
            negatives = sample_negatives(time_mask, cfg.num_negatives, row_keys=copy_keys)
        logits, neg_is_pos = contrastive_logits(context, targets, negatives, quantized.codes.repeat(M, 1, 1), cfg.logit_temp)
        contrastive, num_correct = contrastive_loss_terms(logits, time_mask)

        masked_per_copy = copy_masks.sum(2)  # (M, B)
        num_masked = masked_per_copy.sum()
        num_vars = cfg.quantizer.num_groups * cfg.quantizer.num_vars
        # Perplexity is a statistic of the whole (per-device) batch, as in fairseq: one per copy,
        # so M copies add up to what M single-mask passes would.
        diversity = ((num_vars - quantized.prob_perplexity) / num_vars * masked_per_copy.sum(1)).sum()
        # Weighted per utterance so the term adds up over micro-batches and ranks; for fairseq's
        # equal-length, equal-count batches this is its batch mean times the sample size.
        penalty = (front.feature_penalty * masked_per_copy.sum(0)).sum()
        loss = contrastive + cfg.diversity_weight * diversity + cfg.feature_penalty_weight * penalty
        return PretrainingOutput(
            loss=loss,
            contrastive_loss=contrastive,
            diversity_loss=diversity,
            feature_penalty=penalty,
            num_masked=num_masked,
            num_correct=num_correct,
            num_frames=front.lengths.sum() * M,
            neg_is_pos=(neg_is_pos & time_mask[..., None]).sum(),
            code_perplexity=quantized.code_perplexity.mean(),
            prob_perplexity=quantized.prob_perplexity.mean(),
            logits=logits,
            time_mask=time_mask,
        )


def mask_copy_keys(utterance_keys: torch.Tensor | None, copies: int) -> torch.Tensor | None:
    """``(B,)`` utterance keys -> ``(copies * B,)`` keys of the mask copies; copy 0 keeps its key."""
    if utterance_keys is None or copies == 1:
        return utterance_keys
    others = combine_keys(utterance_keys[None, :], torch.arange(1, copies, device=utterance_keys.device)[:, None])
    return torch.cat([utterance_keys, others.reshape(-1)])


@dataclass
class CTCOutput:
    logits: torch.Tensor  # (B, T, V); padded frames forced to blank (index 0)
    lengths: torch.Tensor  # (B,) valid frames
    hidden_states: list[torch.Tensor] = field(default_factory=list)


class Wav2Vec2ForCTC(nn.Module):
    """Encoder + linear CTC head; class 0 is the blank."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError(f"a CTC model needs vocab_size >= 2 (blank + tokens), got {cfg.vocab_size}")
        self.cfg = cfg
        self.encoder = Wav2Vec2Encoder(cfg)
        self.final_dropout = Dropout(cfg.final_dropout)
        self.ctc_head = nn.Linear(cfg.transformer.embed_dim, cfg.vocab_size)
        self.tokenizer = None  # a speechssl.text tokenizer; saved with the model when set
        nn.init.xavier_uniform_(self.ctc_head.weight)
        nn.init.zeros_(self.ctc_head.bias)

    def forward(
        self,
        waveform: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        utterance_keys: torch.Tensor | None = None,
        norm_stats: NormStats | None = None,
    ) -> CTCOutput:
        """
        Args:
            waveform: ``(batch, samples)`` zero-padded audio.
            lengths: ``(batch,)`` valid samples, or None.
            utterance_keys: ``(batch,)`` int64 keys for the masks (see the pretraining model).

        In training mode, time and channel spans are masked as ``cfg.masking`` sets (SpecAugment
        in the feature space, as fairseq fine-tuning does).
        """
        time_mask = channel_mask = None
        if self.training:
            waveform, lengths = self.encoder.check_inputs(waveform, lengths)
            m, B = self.cfg.masking, waveform.shape[0]
            if m.time_prob > 0:
                frame_lengths = self.encoder.frame_lengths(lengths)
                T = self.encoder.num_frames(waveform.shape[1])
                time_mask = compute_span_mask(
                    (B, T), frame_lengths, m.time_prob, m.time_length, m.time_min_masks, row_keys=utterance_keys
                )
            if m.channel_prob > 0:
                channels = (B, self.cfg.transformer.embed_dim)
                channel_mask = compute_span_mask(
                    channels, None, m.channel_prob, m.channel_length, m.channel_min_masks,
                    device=waveform.device, row_keys=utterance_keys, stream=CHANNEL_MASK_STREAM,
                )
        out = self.encoder(
            waveform, lengths, time_mask=time_mask, channel_mask=channel_mask, output_hidden_states=output_hidden_states,
            norm_stats=norm_stats,
        )
        logits = self.ctc_head(self.final_dropout(out.context))  # (B, T, V)
        # Padded frames emit blank with certainty (fairseq Wav2VecEncoder does the same).
        blank_only = torch.full_like(logits[0, 0], float("-inf"))
        blank_only[0] = 0.0
        logits = torch.where(out.padding_mask[..., None], blank_only, logits)
        return CTCOutput(logits, out.lengths, out.hidden_states)

