"""The bad-input cases: what a user gets wrong and the words of the one-line error each must print.

The tests in `test_bad_inputs.py` run every case; the documentation's troubleshooting page lists them
(`examples()`), so the page shows only messages a test has checked."""


def damage_weights(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])


def damage_tokenizer(folder):
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordPiece", "vocab": ')


CASES = {
    # name: (extra arguments, teacher damage, words the one line must contain)
    "impossible target": (["--target", "1000000x"], None, ["no BiLSTM student has about", "reachable targets"]),
    "impossible target, transformer": (["--target", "1000000x", "--student", "transformer"], None,
                                       ["no Transformer student has about", "reachable targets"]),
    "max_length beyond the teacher's positions": (["--set", "data.max_length=100"], None,
                                                  ["data.max_length = 100 is longer than", "64 positions"]),
    "test split rounds to zero rows": (["--set", "data.test_size=0.0001"], None,
                                       ["data.test_size = 0.0001 leaves no test rows", "raise data.test_size"]),
    "dev split rounds to zero rows": (["--set", "data.dev_size=0.0001"], None, ["leaves no dev rows"]),
    "damaged teacher weights": ([], damage_weights, ["cannot read teacher weights", "save_pretrained"]),
    "damaged teacher tokenizer": ([], damage_tokenizer, ["cannot read the tokenizer of teacher", "save_pretrained"]),
    "malformed --set": (["--set", "distill.epochs=[1"], None, ["cannot read the value of --set"]),
    "hidden layer out of range": (["--set", "distill.stages=[{name: r, losses: {hidden_states: 1}}]",
                                   "--set", 'distill.hidden_layers=["-1:9"]'], None,
                                  ["distill.hidden_layers pair -1:9 is out of range", "the teacher 0..2"]),
    "unquoted layer pair": (["--set", "distill.attention_layer=2:6"], None,
                            ["cannot read layer pair '126'", "in quotes", "base-60"]),
    "unknown recipe key": (["--set", "distill.epoch=3"], None, ["unknown recipe key 'distill.epoch'"]),
    "wrong text column": (["--text-column", "body"], None, ["body"]),
    "attention layer out of range": (["--student", "transformer", "--target", "3x", "--set",
                                      "distill.stages=[{name: a, losses: {attention: 1}}]",
                                      "--set", 'distill.attention_layer="-1:9"'], None,
                                     ["distill.attention_layer '-1:9' is out of range", "the teacher 0..1"]),
}


# More of compress, and the other commands: each (arguments, words the one line must contain). The
# arguments may name {teacher}, {csv}, {tmp} and {artifact} (a finished tiny artifact).
COMMAND_CASES = {
    "compress: unknown recipe": (["compress", "--recipe", "no-such-recipe"], ["no recipe named 'no-such-recipe'"]),
    "compress: a mistyped teacher alias": (["compress", "--teacher", "minlm"], ["no teacher named 'minlm'",
                                                                               "did you mean 'minilm'?"]),
    "compress: missing data file": (["compress", "--teacher", "{teacher}", "--data", "{tmp}/missing.csv"],
                                    ["missing.csv"]),
    "compress: unknown student kind": (["compress", "--student", "cnn"], ["student.kind", "cnn"]),
    "compress: init of the other kind": (["compress", "--student", "transformer", "--init", "pca"],
                                         ["does not apply to a transformer student"]),
    "compress: target that does not compress": (["compress", "--target", "0.5x"], ["would not compress"]),
    "compress: unreadable target": (["compress", "--target", "thirty"], ["cannot read target 'thirty'"]),
    "compress: unreadable latency": (["compress", "--latency", "fast"], ["cannot read latency 'fast'", "5ms@32x128"]),
    "compress: a folder that is not a dataset": (["compress", "--teacher", "{teacher}", "--data", "{tmp}"],
                                                 ["not one written by Dataset.save_to_disk"]),
    "bench: texts file without its column": (["bench", "{artifact}", "--texts", "{csv}"], ["has no column 'text'"]),
    "compress: output is not an artifact": (["compress", "--teacher", "{teacher}", "--data", "{csv}",
                                             "--text-column", "review", "--label-column", "stars",
                                             "-o", "{tmp}/occupied"], ["exists and is not a kdedge artifact"]),
    "compress: agreement gate above 1": (["compress", "--set", "export.min_agreement=2"],
                                         ["export.min_agreement", "(0, 1]"]),
    "compress: quality bar above 1": (["compress", "--set", "export.quality_bar=1.5"],
                                      ["export.quality_bar", "(0, 1]", "e.g. 0.95"]),
    "compress: unknown label column": (["compress", "--teacher", "{teacher}", "--data", "{csv}",
                                        "--text-column", "review", "--label-column", "score"], ["score"]),
    "extract: init of the other kind": (["extract", "{teacher}", "-o", "{tmp}/student", "--student", "transformer",
                                         "--init", "pca"], ["does not apply to a transformer student"]),
    "extract: output not empty": (["extract", "{teacher}", "-o", "{tmp}/occupied", "--student", "bilstm",
                                   "--data", "{csv}", "--text-column", "review", "--label-column", "stars",
                                   "--set", "data.max_length=32", "--run-dir", "{tmp}/run"], ["is not empty"]),
    "label: shard out of range": (["label", "--shard", "3/2"], ["shard '3/2' is out of range"]),
    "label: unreadable shard": (["label", "--shard", "half"], ["cannot read shard 'half'"]),
    "bench: not an artifact": (["bench", "{tmp}/occupied"], ["not a kdedge artifact"]),
    "bench: bad batch sizes": (["bench", "{artifact}", "--batch-sizes", "0,8"], ["cannot read --batch-sizes '0,8'"]),
    "bench: bad lengths": (["bench", "{artifact}", "--seq-lens", "long"], ["cannot read --seq-lens 'long'"]),
}


RUNTIME_CASES = {
    "predict: not an artifact": (lambda folder: (folder / "kdedge.json").unlink(), "is not a kdedge artifact"),
    "predict: manifest not JSON": (lambda folder: (folder / "kdedge.json").write_text("{"), "is not valid JSON"),
    "predict: newer schema": (lambda folder: (folder / "kdedge.json").write_text('{"schema": 99}'),
                              "schema version 99"),
    "predict: model missing": (lambda folder: (folder / "model.onnx").unlink(), "model.onnx is missing"),
    "predict: tokenizer damaged": (lambda folder: (folder / "tokenizer.json").write_text("{}"),
                                   "tokenizer.json in"),
    "serve: not an artifact": (lambda folder: (folder / "kdedge.json").unlink(), "is not a kdedge artifact"),
}


def examples() -> dict[str, tuple[str, list[str]]]:
    """Case name → (the command as a user would type it, the words its error line contains)."""
    places = {"teacher": "./teacher", "csv": "reviews.csv", "tmp": ".", "artifact": "artifacts/sentiment-bilstm"}
    shown = {}
    for name, (extra, damage, words) in CASES.items():
        prefix = f"({damage.__name__.replace('_', ' ')} in ./teacher) " if damage else ""
        shown[f"compress: {name}"] = (prefix + "kdedge compress --teacher ./teacher --data reviews.csv "
                                      + " ".join(_quoted(a) for a in extra), words)
    for name, (arguments, words) in COMMAND_CASES.items():
        shown[name] = ("kdedge " + " ".join(_quoted(a.format(**places)) for a in arguments), words)
    for name, (_damage, words) in RUNTIME_CASES.items():
        command = "serve" if name.startswith("serve") else "predict"
        shown[f"runtime {name}"] = (f"kdedge-runtime {command} FOLDER ...", [words])
    return shown


def _quoted(argument: str) -> str:
    return f"'{argument}'" if any(c in argument for c in " []{}") else argument
