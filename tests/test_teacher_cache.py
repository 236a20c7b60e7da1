"""The chunked teacher cache: gather by index, shard, resume, invalidate."""

import numpy as np
import pytest

from kdedge.errors import ConfigError
from kdedge.teacher.cache import TeacherCache, parse_shard

TEXTS = [f"text {i}" for i in range(23)]


class Counting:
    """A fake teacher: row i of each field is (i, i) for 'text i'; records which texts it saw."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, texts, fields):
        self.seen += list(texts)
        values = np.array([[float(t.split()[1])] * 2 for t in texts], dtype=np.float32)
        return {name: values + (100 if name == "hidden-2" else 0) for name in fields}


def test_fill_then_gather_rows_in_any_order(tmp_path):
    cache = TeacherCache(tmp_path, key="k", chunk_rows=5)
    compute = Counting()
    assert cache.fill("transfer", TEXTS, ["logits", "hidden-2"], compute) == 5
    logits = cache.array("transfer", "logits")
    assert len(logits) == 23 and sorted(compute.seen) == sorted(TEXTS)
    np.testing.assert_array_equal(logits[[22, 0, 7, 7]][:, 0], [22, 0, 7, 7])
    np.testing.assert_array_equal(cache.array("transfer", "hidden-2")[[3]], [[103, 103]])
    assert logits.numpy().shape == (23, 2)


def test_shards_label_disjoint_chunks_and_the_cache_is_usable_only_when_all_are_done(tmp_path):
    first, second = Counting(), Counting()
    TeacherCache(tmp_path, "k", chunk_rows=5).fill("transfer", TEXTS, ["logits"], first, shard=(0, 2))
    with pytest.raises(ConfigError, match="2 chunks missing"):
        TeacherCache(tmp_path, "k", chunk_rows=5).array("transfer", "logits")
    TeacherCache(tmp_path, "k", chunk_rows=5).fill("transfer", TEXTS, ["logits"], second, shard=(1, 2))
    assert not set(first.seen) & set(second.seen) and len(first.seen) + len(second.seen) == 23
    assert TeacherCache(tmp_path, "k", chunk_rows=5).array("transfer", "logits")[[21]][0, 0] == 21


def test_an_interrupted_run_resumes_at_the_missing_chunk(tmp_path):
    cache = TeacherCache(tmp_path, "k", chunk_rows=5)
    cache.fill("transfer", TEXTS, ["logits"], Counting())
    (tmp_path / "transfer" / "logits" / "chunk-00003.k.npy").unlink()
    again = Counting()
    assert cache.fill("transfer", TEXTS, ["logits"], again) == 1
    assert again.seen == TEXTS[15:20]


def test_a_new_field_computes_only_that_field(tmp_path):
    cache = TeacherCache(tmp_path, "k", chunk_rows=10)
    cache.fill("dev", TEXTS, ["logits"], Counting())
    asked = []
    cache.fill("dev", TEXTS, ["logits", "hidden-2"], lambda texts, fields: asked.append(fields) or Counting()(texts, fields))
    assert asked == [["hidden-2"]] * 3


def test_a_changed_key_recomputes_everything(tmp_path):
    TeacherCache(tmp_path, "old", chunk_rows=10).fill("dev", TEXTS, ["logits"], Counting())
    fresh = Counting()
    assert TeacherCache(tmp_path, "new", chunk_rows=10).fill("dev", TEXTS, ["logits"], fresh) == 3
    assert len(fresh.seen) == 23


@pytest.mark.parametrize("text", ["2/2", "a/b", "3", "-1/4"])
def test_bad_shards_are_refused(text):
    with pytest.raises(ConfigError):
        parse_shard(text)


def test_shard_parses():
    assert parse_shard("1/4") == (1, 4)


def test_a_shard_that_started_at_the_same_moment_keeps_the_others_chunks(tmp_path):
    # shard 1 checked for meta.json before shard 0 wrote it (both started together), and only then
    # reaches the reset: it must not wipe the chunks shard 0 has labelled since
    first, second = Counting(), Counting()
    TeacherCache(tmp_path, "k", chunk_rows=5).fill("transfer", TEXTS, ["logits"], first, shard=(0, 2))
    late = TeacherCache(tmp_path, "k", chunk_rows=5)
    current = late._current
    calls = []

    def saw_nothing_at_first(split, rows):
        calls.append(split)
        return False if len(calls) == 1 else current(split, rows)

    late._current = saw_nothing_at_first
    late.fill("transfer", TEXTS, ["logits"], second, shard=(1, 2))
    assert len(first.seen) + len(second.seen) == 23 and not set(first.seen) & set(second.seen)
    assert TeacherCache(tmp_path, "k", chunk_rows=5).array("transfer", "logits")[[0, 22]][:, 0].tolist() == [0, 22]


def test_shards_started_together_in_processes_label_every_chunk_once(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_label_shard, args=(tmp_path, index, barrier)) for index in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert all(worker.exitcode == 0 for worker in workers)
    logits = TeacherCache(tmp_path, "k", chunk_rows=2).array("transfer", "logits")
    assert logits.numpy()[:, 0].tolist() == list(range(23))
    seen = [line for index in range(4) for line in (tmp_path / f"seen-{index}").read_text().split("\n") if line]
    assert sorted(seen) == sorted(TEXTS)  # every text labelled exactly once: no shard redid another's work


def _label_shard(folder, index, barrier):
    compute = Counting()
    barrier.wait()  # all four start at the same moment
    TeacherCache(folder, "k", chunk_rows=2).fill("transfer", TEXTS, ["logits"], compute, shard=(index, 4))
    (folder / f"seen-{index}").write_text("\n".join(compute.seen))


def test_chunks_written_under_another_key_are_never_read_as_this_runs(tmp_path):
    # two runs with different recipes interleave in one split: run "a" checked the key and reset the split,
    # then run "b" reset it for its key, and "a" went on writing its chunks into the folder
    a, b = TeacherCache(tmp_path, "a", chunk_rows=5), TeacherCache(tmp_path, "b", chunk_rows=5)
    a.fill("transfer", TEXTS[:5], ["logits"], Counting())
    b.fill("transfer", TEXTS, ["logits"], Counting(), shard=(1, 2))  # b's chunks 1 and 3
    for number in (0, 2, 4):  # a keeps writing its (wrong for b) chunks after b's reset
        np.save(tmp_path / "transfer" / "logits" / f"chunk-{number:05d}.a.npy", np.full((5, 2), -1, np.float32))
    with pytest.raises(ConfigError, match="3 chunks missing"):
        b.array("transfer", "logits")  # a's chunks do not count as b's
    b.fill("transfer", TEXTS, ["logits"], Counting())
    assert (b.array("transfer", "logits").numpy()[:, 0] >= 0).all()


def test_two_runs_on_one_run_directory_one_is_refused_in_one_line(tmp_path, tiny_teacher_dir, tiny_csv):
    from conftest import tiny_recipe

    from kdedge.ownership import run_lock
    from kdedge.pipeline.compress import compress

    with run_lock(tmp_path / "run", "kdedge compress"):  # a first run holds it
        with pytest.raises(ConfigError, match=r"is in use by process \d+ \(kdedge compress, since"):
            compress(tiny_recipe(tiny_teacher_dir, tiny_csv), tmp_path / "out", tmp_path / "run")
        with run_lock(tmp_path / "other", "kdedge label --shard 0/2", shared=True):
            with run_lock(tmp_path / "other", "kdedge label --shard 1/2", shared=True):
                pass  # shards of label share a run directory
    assert not (tmp_path / "out").exists()
