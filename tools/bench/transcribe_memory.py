"""Peak memory of ``speechssl transcribe`` on long files (bounded by the window, not the file).

    python tools/bench/transcribe_memory.py [--preset base] [--minutes 1 20]

A CTC model of the preset's architecture (random weights, fairseq's 32-class letter
vocabulary) transcribes one noise-like speech file of each length through the CLI, with word
alignment and json + srt output. Each run is a fresh process measured by ``/usr/bin/time -v``
(maximum resident set size). Prints a markdown table.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 20.0])
    args = parser.parse_args()
    import soundfile
    import torch

    from speechssl import config
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.serialization import save_model
    from speechssl.smoke import synthesize_test_signal
    from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

    print("| audio | model | peak RSS (MB) | wall time (s) | real-time factor | words |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(config.override(config.preset(args.preset), {"vocab_size": len(tokenizer)}))
        model.tokenizer = tokenizer
        save_model(model, tmp / "model")
        for minutes in args.minutes:
            audio = tmp / f"{minutes:g}min.flac"
            soundfile.write(audio, synthesize_test_signal(minutes * 60).numpy(), 16000)
            start = time.perf_counter()
            result = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-m", "speechssl", "transcribe", str(tmp / "model"), str(audio),
                 "--output-dir", str(tmp / "out"), "--format", "json,srt", "--no-progress"],
                capture_output=True, text=True, check=True,
            )
            seconds = time.perf_counter() - start
            peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
            import json

            words = len(json.loads((tmp / "out" / f"{audio.stem}.json").read_text())["words"])
            print(f"| {minutes:g} min | {args.preset} | {peak_kb / 1024:.0f} | {seconds:.0f} | {seconds / (minutes * 60):.3f} "
                  f"| {words} |", flush=True)


if __name__ == "__main__":
    main()
