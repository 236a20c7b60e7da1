import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from kdedge.errors import ConfigError
from kdedge.students.tokenizer_trim import special_ids, trim_tokenizer


def test_wordpiece_round_trip(tiny_teacher_dir):
    teacher = Tokenizer.from_file(str(tiny_teacher_dir / "tokenizer.json"))
    texts = ["the movie was great", "my day is sad", "the food was okay"]
    used = sorted({i for text in texts for i in teacher.encode(text).ids})
    trimmed = trim_tokenizer(teacher, np.array(used), pad_token_id=teacher.token_to_id("[PAD]"))
    assert trimmed.vocab_size < teacher.get_vocab_size() // 2
    for text in texts:
        old, new = teacher.encode(text), trimmed.tokenizer.encode(text)
        assert new.tokens == old.tokens
        assert list(trimmed.teacher_ids[new.ids]) == old.ids
    # special tokens survive with their templates; a dropped word becomes unknown or is re-segmented
    assert trimmed.tokenizer.encode("the movie").tokens[0] == "[CLS]"
    assert trimmed.tokenizer.token_to_id("[MASK]") is not None
    assert trimmed.tokenizer.encode("terrible").tokens[1:-1] != ["terrible"]
    assert trimmed.teacher_ids[trimmed.pad_token_id] == teacher.token_to_id("[PAD]")
    # the trimmed tokenizer is a complete, reloadable tokenizer.json
    assert Tokenizer.from_str(trimmed.tokenizer.to_str()).encode(texts[0]).ids == trimmed.tokenizer.encode(texts[0]).ids


def sentencepiece_like() -> Tokenizer:
    """A tiny XLM-R-style Unigram tokenizer built in-process (no download)."""
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"▁{w}", -float(i + 1)) for i, w in enumerate(["das", "ist", "gut", "schlecht", "très", "bien"])]
    pieces += [(c, -20.0) for c in "abcdefghijklmnopqrstuvwxyzèé"]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tokenizer


def test_unigram_round_trip():
    teacher = sentencepiece_like()
    text = "das ist très bien"
    used = teacher.encode(text).ids
    trimmed = trim_tokenizer(teacher, np.array(used), pad_token_id=1)
    encoded = trimmed.tokenizer.encode(text)
    assert encoded.tokens == teacher.encode(text).tokens
    assert list(trimmed.teacher_ids[encoded.ids]) == used
    assert set(special_ids(teacher)) <= set(trimmed.teacher_ids.tolist())


def test_bpe_is_refused_clearly():
    bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    with pytest.raises(ConfigError, match="BPE"):
        trim_tokenizer(bpe, np.array([0]), pad_token_id=0)
