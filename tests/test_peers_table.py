"""benchmarks/peers.py decides which kdedge student answers which peer: at least as accurate and at least
as fast at one batch size, judged separately at batch 32 and at batch 1."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def peers_module():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "peers.py"
    spec = importlib.util.spec_from_file_location("peers_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def row(name, kind, accuracy, ms32, ms1):
    return {"name": name, "kind": kind, "trained_on": "gold + transfer", "settings": "", "accuracy": accuracy,
            "disk_bytes": 1_000_000, "ms_batch32": ms32, "ms_batch32_rounds": [ms32], "ms_batch1": ms1,
            "ms_batch1_rounds": [ms1]}


def test_a_student_answers_a_peer_only_when_as_accurate_and_as_fast_at_that_batch():
    peers = peers_module()
    fast = row("bag", "kdedge", 0.75, 1.0, 0.12)
    accurate = row("bilstm", "kdedge", 0.77, 4.0, 0.30)
    students = [fast, accurate]
    fasttext = row("fastText", "peer", 0.74, 2.0, 0.06)
    assert peers.answers(fasttext, students, "ms_batch32") is fast  # the fastest that qualifies
    assert peers.answers(fasttext, students, "ms_batch1") is None  # slower per single text
    tfidf = row("tfidf", "peer", 0.76, 9.0, 2.0)
    assert peers.answers(tfidf, students, "ms_batch32") is accurate  # only the BiLSTM is as accurate
    equal = row("equal", "peer", 0.75, 1.0, 0.12)
    assert peers.answers(equal, students, "ms_batch1") is fast  # a tie counts as an answer


def test_the_table_names_the_unanswered_peers_per_batch_size():
    peers = peers_module()
    summary = {"teacher_accuracy": 0.76, "train_rows": 4000, "transfer_rows": 34243, "test_rows": 2000,
               "command": "python benchmarks/peers.py", "threads": 2,
               "machine": {"cpu": "test CPU", "cores": 2, "torch": "2.13.0", "onnxruntime": "1.32.0"},
               "models": [row("fastText", "peer", 0.74, 2.0, 0.06), row("bag", "kdedge", 0.75, 1.0, 0.12)]}
    text = peers.markdown(summary)
    assert "at batch 32: 1 of 1 peers" in text
    assert "at batch 1: 0 of 1 peers" in text and "not yet fastText" in text
