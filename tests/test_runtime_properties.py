"""Property-based tests (hypothesis): a Predictor answers any Unicode text, one result per text, with
entity offsets inside the text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdedge_runtime import Entity, Prediction, Predictor

WORDS = ["the", "movie", "report", "table", "lovely", "superb", "happy", "fun", "was", "great", "awful", "\u200b",
         "\u0301", "\ufe0f", "é", "日本", "🙂", "\u00a0", "\t", "\n", "x" * 40]
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.lists(
    st.sampled_from(WORDS), max_size=40).map(" ".join)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


@SETTINGS
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_any_text_gets_one_label_with_a_probability(artifact, texts):
    predictions = Predictor(artifact, threads=1).predict(texts, batch_size=4)
    assert len(predictions) == len(texts)
    assert all(isinstance(p, Prediction) and p.label in ("negative", "neutral", "positive") and 0 < p.score <= 1
               for p in predictions)


@SETTINGS
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_any_text_gets_entities_inside_it(ner_artifact, texts):
    _, folder = ner_artifact
    results = Predictor(folder, threads=1).predict(texts, batch_size=4)
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        end_of_previous = 0
        assert len(result.tags) == len(result.tag_scores) == min(len(text.split()), 32)
        for entity in result.entities:
            assert isinstance(entity, Entity) and entity.label in ("person", "geo-loc")
            assert end_of_previous <= entity.start < entity.end <= len(text)  # in order, not overlapping
            assert entity.text == text[entity.start:entity.end] and entity.text == entity.text.strip()
            assert 0 < entity.score <= 1
            end_of_previous = entity.end
