"""speechssl: self-supervised speech learning with the faithful wav2vec 2.0 stack.

Public API: :func:`load_model`, :func:`extract_features`, :func:`transcribe`.
"""

__version__ = "0.1.0"


def load_model(reference, map_location="cpu", **kwargs):
    """A wav2vec 2.0 model in eval mode, from a speechssl model or run directory, a Hugging Face
    directory, a fairseq ``.pt`` or a hub id ``org/name[@revision]``; see :mod:`speechssl.models`.
    An exported ``.onnx`` gives an onnxruntime model that :func:`transcribe` and
    :func:`extract_features` run like a PyTorch one (``map_location``: its device)."""
    from speechssl.inference.onnx_runtime import OnnxBackend, is_onnx_path

    if is_onnx_path(reference):
        return OnnxBackend(reference, device=str(map_location))
    from speechssl.models import load_model as _load

    return _load(reference, map_location, **kwargs)


def extract_features(model, audio, layers="all", **kwargs):
    """Features of one utterance from any layer; see :func:`speechssl.inference.features.extract_features`.

    ``audio`` is a file path, a numpy array or a tensor (mono, 16 kHz for arrays).
    """
    from speechssl.audio import load_audio
    from speechssl.inference.features import extract_features as _extract

    return _extract(model, load_audio(audio), layers, **kwargs)


def transcribe(model, audio, *, lm=None, lexicon=None, beam_size=50, lm_weight=2.0, word_score=0.0, **kwargs):
    """Transcribe one clip or a list of clips with a CTC model.

    Args:
        model: a CTC model, or any reference :func:`load_model` accepts (model or run dir, hub id, ...).
        audio: a file path, a numpy array or a tensor (mono, 16 kHz for arrays), or a list of them.
        lm / lexicon: a KenLM n-gram model (and lexicon) for beam search; greedy without them.
        kwargs: :class:`~speechssl.inference.transcribe.Transcriber` options
            (``timestamps``, ``window_seconds``, ``overlap_seconds``).

    Returns a :class:`~speechssl.inference.transcribe.Transcript` (text, words with times and
    confidences), or a list of them for a list input.
    """
    import os

    from speechssl.audio import load_audio
    from speechssl.decoding.beam import make_decoder
    from speechssl.inference.transcribe import Transcriber

    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    tokenizer = getattr(model, "tokenizer", None)
    beam = lm is not None or lexicon is not None
    decoder = None
    if beam and tokenizer is not None:
        decoder = make_decoder(tokenizer, "beam", lm=lm, lexicon=lexicon, beam_size=beam_size, lm_weight=lm_weight,
                               word_score=word_score)
    transcriber = Transcriber(model, decoder, **kwargs)
    single = not isinstance(audio, (list, tuple))
    items = [audio] if single else list(audio)
    ids = [os.path.splitext(os.path.basename(a))[0] if isinstance(a, (str, os.PathLike)) else str(i) for i, a in enumerate(items)]
    transcripts = transcriber.transcribe([load_audio(a) for a in items], ids)
    return transcripts[0] if single else transcripts
