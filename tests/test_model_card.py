"""The artifact's README.md: a Hugging Face model card generated from kdedge.json, never disagreeing with it."""

import json

import pytest
import yaml

from kdedge.export.model_card import CARD_FILE, model_card


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_every_artifact_ships_a_card_written_from_its_manifest(artifact):
    manifest = json.loads((artifact / "kdedge.json").read_text())
    card = (artifact / CARD_FILE).read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "onnx"
    assert {"kdedge", "knowledge-distillation", "onnx", "bilstm", manifest["variant"]} <= set(meta["tags"])
    assert "base_model" not in meta  # the teacher is a local folder here, not a hub id
    result = meta["model-index"][0]["results"][0]
    assert result["task"]["type"] == "text-classification" and result["dataset"]["split"] == "test"
    shipped = manifest["metrics"]["student_onnx"]
    assert {m["type"]: m["value"] for m in result["metrics"]} == {
        "accuracy": round(shipped["accuracy"], 4), "f1": round(shipped["macro_f1"], 4)}
    data = manifest["data"]
    assert f"| {data['train']:,} | {data['dev']:,} | {data['test']:,} | {data['transfer']:,} |" in card
    for row in manifest["variants"]:  # every variant, its score, and which shipped
        assert f"| {row['variant']} | {row['file_bytes'] / 1e6:.2f} MB | {row['score']:.4f} |" in card
    assert f"**Why {manifest['variant']}:**" in card
    machine = manifest["machine"]
    assert machine["cpu"] in card and f"{manifest['latency_ms_batch32']['student_onnx']:.2f} ms" in card
    assert "kdedge-runtime serve" in card and "Predictor(" in card
    assert f"longer than {manifest['max_length']} tokens" in card and "`negative`, `neutral`, `positive`" in card
    metrics, intervals = manifest["metrics"], manifest["intervals"]
    cells = [f"{metrics[m]['accuracy']:.4f} ({intervals[m]['accuracy'][0]:.4f}-{intervals[m]['accuracy'][1]:.4f})"
             for m in ("teacher", "student", "student_onnx")]
    assert f"| accuracy | {' | '.join(cells)} |" in card
    assert f"student ONNX {manifest['variant']} (shipped)" in card
    relabelled = model_card({**manifest, "labels": ["bad", "meh", "good"]})  # written from the manifest alone
    assert "`bad`, `meh`, `good`" in relabelled and "`negative`" not in relabelled


def test_a_hub_teacher_and_dataset_become_the_base_model_and_datasets(artifact):
    manifest = json.loads((artifact / "kdedge.json").read_text())
    manifest["teacher"]["name"] = "bert-base-uncased"
    manifest["data"]["source"] = "glue:sst2"
    meta = front_matter(model_card(manifest))
    assert meta["base_model"] == ["bert-base-uncased"]
    assert meta["datasets"] == ["glue:sst2"]


def test_ner_and_multitask_cards(ner_artifact):
    _, ner_artifact = ner_artifact
    manifest = json.loads((ner_artifact / "kdedge.json").read_text())
    card = (ner_artifact / CARD_FILE).read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["pipeline_tag"] == "token-classification"
    assert {m["type"] for m in meta["model-index"][0]["results"][0]["metrics"]} == {"precision", "recall", "f1"}
    multi = {**manifest, "task": "multi-task", "student": {"kind": "multitask-bilstm", "params": 10},
             "teacher": {"ner": manifest["teacher"], "sentiment": manifest["teacher"]},
             "tasks": [{"name": "ner", "task": "token-classification", "labels": ["O", "B-x", "I-x"]},
                       {"name": "sentiment", "task": "sequence-classification", "labels": ["a", "b"]}],
             "data": {"ner": manifest["data"], "sentiment": manifest["data"]},
             "metrics": {"student_onnx": {"ner.entity_f1": 0.5, "sentiment.accuracy": 0.8, "mean_score": 0.65},
                         "teacher": {"ner.entity_f1": 0.6, "sentiment.accuracy": 0.9}}}
    card = model_card(multi)
    meta = front_matter(card)
    assert "multi-task" in meta["tags"] and len(meta["model-index"][0]["results"]) == 2
    assert "ner: labels `O`, `B-x`, `I-x`." in card and "sentiment: labels `a`, `b`." in card


@pytest.mark.parametrize("missing", ["variants", "latency_ms_batch32", "machine", "metrics", "disk_bytes"])
def test_a_sparse_manifest_still_gives_a_card(artifact, missing):
    manifest = json.loads((artifact / "kdedge.json").read_text())
    del manifest[missing]
    card = model_card(manifest)
    assert card.startswith("---\n") and "## Limits" in card
