"""Single-device model code: no DDP, AMP, I/O or checkpoint logic lives here."""

from speechssl.model.wav2vec2 import (
    CTCOutput,
    EncoderOutput,
    PretrainingOutput,
    Wav2Vec2Encoder,
    Wav2Vec2ForCTC,
    Wav2Vec2ForPretraining,
)

__all__ = [
    "CTCOutput",
    "EncoderOutput",
    "PretrainingOutput",
    "Wav2Vec2Encoder",
    "Wav2Vec2ForCTC",
    "Wav2Vec2ForPretraining",
]
