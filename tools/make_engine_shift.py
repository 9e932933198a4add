"""An engine-shift test set: the synthetic corpus's test transcripts spoken by flite, not espeak-ng.

A model fine-tuned on espeak-ng voices can learn the synthesizer instead of speech; the same
sentences from another engine (its own voices, prosody and signal chain) measure that. flite is
Debian's ``flite`` package (not on PyPI), so the set is optional: without the binary this tool
says so and exits 3, and the demo simply reports no engine-shift row.

    python tools/make_engine_shift.py exp/synthetic/corpus            # -> corpus/engine_shift.tsv .wrd .ltr

Voices: flite's four 16 kHz voices (slt, rms, awb, kal16) and its 8 kHz ``kal`` (upsampled, a
narrow-band channel), one per utterance in turn, each with a duration stretch drawn from
[0.85, 1.2] (seeded), peak-normalized like the espeak corpus.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile

from speechssl.audio import SAMPLE_RATE, load_audio
from speechssl.data.manifest import Manifest, Utterance

VOICES = ["slt", "rms", "awb", "kal16", "kal"]
MISSING_ENGINE = 3  # exit code when flite is not installed


def speak(flite: str, text: str, voice: str, stretch: float, path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        command = [flite, "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}", "-t", text, "-o", str(wav)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        audio = load_audio(wav)  # resampled to 16 kHz, mono
    peak = audio.abs().max().clamp(min=1e-3)
    soundfile.write(path, (0.9 * audio / peak).numpy(), SAMPLE_RATE)


def make_engine_shift(corpus: Path, split: str = "test", name: str = "engine_shift", seed: int = 0) -> Path:
    flite = shutil.which("flite")
    if flite is None:
        raise FileNotFoundError("flite is not installed (Debian: apt-get install flite): no engine-shift set")
    source = Manifest.read(corpus / f"{split}.tsv")
    if not source.labeled:
        raise ValueError(f"{corpus / split}.tsv has no transcripts")
    rng = random.Random(seed)
    folder = corpus / "audio" / name
    folder.mkdir(parents=True, exist_ok=True)
    utterances = []
    for i, utterance in enumerate(source.utterances):
        voice = VOICES[i % len(VOICES)]
        relpath = f"audio/{name}/{Path(utterance.path).stem}-{voice}.flac"
        speak(flite, utterance.text.lower(), voice, rng.uniform(0.85, 1.2), corpus / relpath)
        utterances.append(Utterance(relpath, soundfile.info(corpus / relpath).frames, utterance.text))
        print(f"\r{name}: {i + 1}/{len(source)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    out = corpus / f"{name}.tsv"
    Manifest(corpus, utterances).write(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a `speechssl synthesize` output folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--name", default="engine_shift")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        out = make_engine_shift(args.corpus, args.split, args.name, args.seed)
    except FileNotFoundError as error:
        print(f"make_engine_shift: {error}", file=sys.stderr)
        return MISSING_ENGINE
    manifest = Manifest.read(out)
    print(f"{out}: {len(manifest)} utterances, {manifest.hours * 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
