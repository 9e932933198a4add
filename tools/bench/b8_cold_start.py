"""B8: cold start, one 4 s file transcribed by a fresh process (import + load + forward + decode).

    python tools/bench/b8_cold_start.py [--json out.json] [--reps 5]

The same BASE CTC model (random weights, 32 letters) saved once in speechssl's format and once
in Hugging Face's. speechssl: ``speechssl transcribe MODEL FILE``. transformers: the minimal
script its model cards show (``Wav2Vec2Processor`` + ``Wav2Vec2ForCTC.from_pretrained``,
soundfile, argmax, ``batch_decode``). Processes alternate; wall time includes the interpreter.
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import finish, log, parse_args

HF_SCRIPT = """
import sys, soundfile, torch, transformers
processor = transformers.Wav2Vec2Processor.from_pretrained(sys.argv[1])
model = transformers.Wav2Vec2ForCTC.from_pretrained(sys.argv[1]).eval()
audio, rate = soundfile.read(sys.argv[2], dtype="float32")
inputs = processor(audio, sampling_rate=rate, return_tensors="pt")
with torch.inference_mode():
    ids = model(inputs.input_values).logits.argmax(-1)
print(processor.batch_decode(ids)[0])
"""


def main() -> None:
    args = parse_args(__doc__)
    import soundfile
    import torch

    from speechssl import config
    from speechssl.convert.huggingface import save_huggingface
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.serialization import save_model
    from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(config.override(config.base(), {"vocab_size": len(tokenizer)})).eval()
        model.tokenizer = tokenizer
        save_model(model, tmp / "speechssl")
        save_huggingface(model, tmp / "hf")
        audio = tmp / "clip.flac"
        soundfile.write(audio, (torch.randn(64_000) * 0.1).numpy(), 16_000)
        commands = {
            "speechssl": [sys.executable, "-m", "speechssl", "transcribe", str(tmp / "speechssl"), str(audio), "--no-progress"],
            "transformers": [sys.executable, "-c", HF_SCRIPT, str(tmp / "hf"), str(audio)],
            "import speechssl.cli": [sys.executable, "-c", "import speechssl.cli"],
            "import transformers (model class)": [sys.executable, "-c", "from transformers import Wav2Vec2ForCTC"],
        }
        times = {name: [] for name in commands}
        outputs = {}
        for rep in range(args.warmup + args.reps):
            for name, command in commands.items():
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                elapsed = time.perf_counter() - start
                if done.returncode != 0:
                    raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
                outputs[name] = done.stdout.strip()
                if rep >= args.warmup:
                    times[name].append(elapsed)
            log(f"B8 rep {rep}")
    results = {name: {"min": min(t), "median": statistics.median(t), "reps": len(t)} for name, t in times.items()}
    same = outputs["speechssl"].split("\t", 1)[-1].strip() == outputs["transformers"].strip()
    finish(args, "b8_cold_start", {"seconds": results, "same_transcript": same}, 0.0)


if __name__ == "__main__":
    main()
