"""Print a run's learning curve (train_log.jsonl) as a markdown table.

    python tools/curve_table.py runs/pretrain/train_log.jsonl [--split valid]
"""

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log")
    parser.add_argument("--split", default="valid")
    args = parser.parse_args()
    records = [json.loads(line) for line in open(args.log, encoding="utf-8")]
    start = records[0]["time"] if records else 0.0
    train = {r["step"]: r for r in records if r["split"] == "train"}
    print("| update | wall time (min) | contrastive (bits) | accuracy | code perplexity | prob perplexity | train contrastive (bits) |")
    print("|---|---|---|---|---|---|---|")
    for r in records:
        if r["split"] != args.split:
            continue
        t = train.get(r["step"], {})
        print(
            f"| {r['step']} | {(r['time'] - start) / 60:.1f} | {r['contrastive_bits']:.3f} | {r['accuracy']:.3f} "
            f"| {r['code_perplexity']:.1f} | {r['prob_perplexity']:.1f} | {t.get('contrastive_bits', float('nan')):.3f} |"
        )


if __name__ == "__main__":
    main()
