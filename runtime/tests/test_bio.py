"""BIO tags: parsing, repair of sequences no annotator would write, and entity spans."""

import pytest

from kdedge_runtime.bio import Span, repair_bio, spans, split_tag


@pytest.mark.parametrize(("tag", "parts"), [("O", ("O", "")), ("B-person", ("B", "person")),
                                            ("I-geo-loc", ("I", "geo-loc"))])
def test_split_tag(tag, parts):
    assert split_tag(tag) == parts


@pytest.mark.parametrize("tag", ["X-person", "B-", "B", "person", "o", "", "b-person"])
def test_a_malformed_tag_is_named(tag):
    with pytest.raises(ValueError, match="is not a BIO tag") as error:
        split_tag(tag)
    assert repr(tag) in str(error.value)


@pytest.mark.parametrize(("tags", "repaired"), [
    ([], []),
    (["O", "O"], ["O", "O"]),
    (["I-person"], ["B-person"]),                                   # an entity cannot start with I
    (["O", "I-person", "I-person"], ["O", "B-person", "I-person"]),  # only the first I of the run changes
    (["B-person", "I-person", "I-person"], ["B-person", "I-person", "I-person"]),
    (["B-person", "I-place"], ["B-person", "B-place"]),               # another type starts a new entity
    (["B-person", "O", "I-person"], ["B-person", "O", "B-person"]),
    (["B-person", "B-person", "I-person"], ["B-person", "B-person", "I-person"]),
])
def test_repair_bio(tags, repaired):
    assert repair_bio(tags) == repaired


@pytest.mark.parametrize(("tags", "found"), [
    ([], []),
    (["O"], []),
    (["B-per"], [Span("per", 0, 1)]),
    (["B-per", "I-per", "O", "B-loc"], [Span("per", 0, 2), Span("loc", 3, 4)]),
    (["O", "B-per", "I-per"], [Span("per", 1, 3)]),                    # an entity that ends the text
    (["B-per", "B-per"], [Span("per", 0, 1), Span("per", 1, 2)]),      # B after B: two entities
    (["I-per", "I-per", "I-loc"], [Span("per", 0, 2), Span("loc", 2, 3)]),  # repaired first
])
def test_spans(tags, found):
    assert spans(tags) == found
