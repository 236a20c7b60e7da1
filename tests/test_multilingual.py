"""Teachers whose tokenizers are not uncased English WordPiece: a cased BERT, and XLM-R (SentencePiece).

Both are tiny and built here: a cased WordPiece vocabulary, and a Unigram (SentencePiece) model trained
in-process with `tokenizers` on multilingual text. The data mixes English, German and French and keeps
capitals and accents, so that a pipeline step that lower-cases or strips accents would show.
"""

import csv
import random

import pytest
from conftest import tiny_recipe
from tokenizers import Tokenizer

from kdedge.errors import ConfigError
from kdedge.pipeline.compress import compress
from kdedge_runtime import Predictor

WORDS = {
    "positive": ["Großartig", "wunderbar", "génial", "Très", "bien", "Excellent", "Liebe", "heureux", "Super", "schön"],
    "negative": ["Schrecklich", "furchtbar", "nul", "déçu", "Mauvais", "hasse", "triste", "Horrible", "kaputt", "pire"],
}
SUBJECTS = ["Der Film", "das Essen", "le repas", "La musique", "The Movie", "unser Urlaub", "le service", "Das Spiel"]
FILLER = ["wirklich", "très", "heute", "encore", "sehr", "und", "et", "war", "était", "ist", "est", "so"]


def rows(count, seed):
    rng, out, seen = random.Random(seed), [], set()
    while len(out) < count:
        label = rng.choice(sorted(WORDS))
        words = [rng.choice(SUBJECTS)] + rng.sample(FILLER, rng.randint(0, 3)) + [rng.choice(WORDS[label])]
        words += rng.sample(FILLER, rng.randint(0, 3))
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


@pytest.fixture(scope="module")
def multilingual_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("multilingual") / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars"])
        writer.writerows(rows(900, seed=3))
    return path


@pytest.fixture(scope="module")
def cased_bert_dir(tmp_path_factory, multilingual_csv):
    import torch
    from tokenizers import models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("cased-bert")
    texts = [text for text, _ in rows(900, seed=3)]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    (folder / "vocab.txt").write_text("\n".join(token for token, _ in vocab) + "\n", encoding="utf-8")
    hf = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=False, strip_accents=False)
    config = BertConfig(vocab_size=hf.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    hf.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def xlmr_dir(tmp_path_factory):
    import torch
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-xlmr")
    texts = [text for text, _ in rows(900, seed=3)]
    sentencepiece = SentencePieceUnigramTokenizer()
    sentencepiece.train_from_iterator(texts, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      unk_token="<unk>")
    hf = XLMRobertaTokenizerFast(tokenizer_object=sentencepiece._tokenizer, bos_token="<s>", eos_token="</s>",
                                 unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", cls_token="<s>",
                                 sep_token="</s>")
    config = XLMRobertaConfig(vocab_size=len(hf), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=128, max_position_embeddings=72, pad_token_id=hf.pad_token_id,
                              bos_token_id=hf.bos_token_id, eos_token_id=hf.eos_token_id, type_vocab_size=1)
    torch.manual_seed(0)
    XLMRobertaModel(config).save_pretrained(folder)
    hf.save_pretrained(folder)
    return folder


def test_cased_bert_keeps_case_and_accents_through_both_students(cased_bert_dir, multilingual_csv, tmp_path):
    for kind, student in (("bilstm", {}), ("transformer", {"kind": "transformer", "init": "etd-impt", "target": "3x",
                                                           "max_params": None, "max_positions": 32})):
        recipe = tiny_recipe(cased_bert_dir, multilingual_csv, student=student)
        result = compress(recipe, tmp_path / kind, tmp_path / f"run-{kind}")
        assert result.manifest["metrics"]["student_onnx"]["accuracy"] > 0.8, kind
        shipped = Tokenizer.from_file(str(tmp_path / kind / "tokenizer.json"))
        tokens = shipped.encode("Großartig").tokens
        assert any("Gro" in token for token in tokens), tokens  # not lower-cased, ß and accents kept
        assert Predictor(tmp_path / kind).predict(["Der Film war Großartig"])[0].label == "positive"


def test_xlmr_sentencepiece_teacher_to_bilstm(xlmr_dir, multilingual_csv, tmp_path):
    recipe = tiny_recipe(xlmr_dir, multilingual_csv)
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert result.manifest["metrics"]["teacher"]["accuracy"] > 0.8
    assert result.manifest["metrics"]["student_onnx"]["accuracy"] > 0.8
    shipped = Tokenizer.from_file(str(tmp_path / "artifact" / "tokenizer.json"))
    assert "▁" in "".join(shipped.encode("Der Film war Großartig").tokens)  # SentencePiece word markers
    assert Predictor(tmp_path / "artifact").predict(["le repas était horrible"])[0].label == "negative"


def test_xlmr_transformer_student_is_refused_clearly(xlmr_dir, multilingual_csv, tmp_path):
    recipe = tiny_recipe(xlmr_dir, multilingual_csv, student={"kind": "transformer", "init": "etd-impt",
                                                              "target": "3x", "max_params": None})
    with pytest.raises(ConfigError, match="cannot yet be extracted from a 'xlm-roberta' teacher"):
        compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert not (tmp_path / "artifact").exists()
