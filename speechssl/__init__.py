"""speechssl: self-supervised speech learning with the faithful wav2vec 2.0 stack.

Public API: :func:`load_model`, :func:`extract_features`.
"""

__version__ = "0.1.0"


def load_model(path, map_location="cpu"):
    """A speechssl, Hugging Face or fairseq wav2vec 2.0 model, in eval mode."""
    from speechssl.serialization import load_model as _load

    return _load(path, map_location)


def extract_features(model, audio, layers="all", **kwargs):
    """Features of one utterance from any layer; see :func:`speechssl.inference.features.extract_features`.

    ``audio`` is a file path, a numpy array or a tensor (mono, 16 kHz for arrays).
    """
    from speechssl.audio import load_audio
    from speechssl.inference.features import extract_features as _extract

    return _extract(model, load_audio(audio), layers, **kwargs)
