"""Measure how far windowed feature extraction is from one full-context pass, per layer.

    python tools/measure_windowing.py MODEL AUDIO_SOURCE... [--seconds 60] [--window 20] [--overlap 4]

AUDIO_SOURCE files (or a .tsv manifest) are concatenated into one long signal. Prints a
markdown table of relative errors ||windowed - full|| / ||full|| per layer.
"""

import argparse

import torch

from speechssl import load_model
from speechssl.audio import SAMPLE_RATE, load_audio
from speechssl.inference.features import extract_features
from speechssl.inference.inputs import expand_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, nargs="+", default=[20.0, 30.0])
    parser.add_argument("--overlap", type=float, default=4.0)
    args = parser.parse_args()
    model = load_model(args.model)
    clips, total = [], 0
    for _, path in expand_inputs(args.sources):
        clips.append(load_audio(path))
        total += clips[-1].numel()
        if total >= args.seconds * SAMPLE_RATE:
            break
    audio = torch.cat(clips)[: int(args.seconds * SAMPLE_RATE)]
    full = extract_features(model, audio, "conv,all,final", window_seconds=None).layers
    print("| layer | " + " | ".join(f"window {w:g} s / overlap {args.overlap:g} s" for w in args.window) + " |")
    print("|---|" + "---|" * len(args.window))
    windowed = [extract_features(model, audio, "conv,all,final", window_seconds=w, overlap_seconds=args.overlap).layers
                for w in args.window]
    for name in full:
        errors = [float((w[name] - full[name]).norm() / full[name].norm()) for w in windowed]
        print(f"| {name} | " + " | ".join(f"{e:.2e}" for e in errors) + " |")


if __name__ == "__main__":
    main()
