"""Peak memory of feature extraction versus audio length (bounded by the window, not the file).

    python tools/bench/extract_memory.py [--preset base] [--minutes 1 10]

Each configuration runs in a fresh process (peak RSS from the kernel, ru_maxrss); the audio is
synthetic noise-like speech of the given length, written to a temporary flac file. Prints a
markdown table.
"""

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time, torch
from speechssl import config
from speechssl.audio import load_audio
from speechssl.inference.features import extract_features
from speechssl.model import Wav2Vec2Encoder
preset, path, window, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
torch.manual_seed(0)
model = Wav2Vec2Encoder(config.preset(preset)).eval()
audio = load_audio(path)
start = time.perf_counter()
feats = extract_features(model, audio, layers, window_seconds=None if window == "none" else float(window))
seconds = time.perf_counter() - start
print(json.dumps({"frames": next(iter(feats.layers.values())).shape[0], "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "output_mb": sum(v.numel() * 4 for v in feats.layers.values()) / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--window", default="30", help="seconds, or 'none' for one full pass")
    parser.add_argument("--layers", nargs="+", default=["final", "all"], help="layer selections to measure")
    args = parser.parse_args()
    import soundfile

    from speechssl.smoke import synthesize_test_signal

    print("| audio | model | layers | window | output (MB) | peak RSS (MB) | wall time (s) | real-time factor |")
    print("|---|---|---|---|---|---|---|---|")
    for minutes in args.minutes:
        with tempfile.NamedTemporaryFile(suffix=".flac") as f:
            soundfile.write(f.name, synthesize_test_signal(minutes * 60).numpy(), 16000)
            for layers in args.layers:
                out = subprocess.run([sys.executable, "-c", CHILD, args.preset, f.name, args.window, layers],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {minutes:g} min | {args.preset} | {layers} | {args.window} s | {r['output_mb']:.0f} "
                      f"| {r['peak_rss_mb']:.0f} | {r['seconds']:.1f} | {r['seconds'] / (minutes * 60):.3f} |", flush=True)


if __name__ == "__main__":
    main()
