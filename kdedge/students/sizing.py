"""Choose a student shape whose parameter count lands on a target.

For the BiLSTM most parameters sit in the embedding table, so the solver trades embedding width,
LSTM width and vocabulary size: for every (width, hidden) on a grid it spends what the LSTM leaves
on vocabulary rows, and prefers shapes that keep ≥97% of token occurrences in the data, then an LSTM
about 1.5x as wide as the embeddings (XtremeDistil's proportions), then wider embeddings.

With a cost model and no latency budget (the default: `kdedge.students.cost_model`, committed, so a
recipe gives the same shape on every machine), expected quality and cost decide together: among the
shapes that keep the most token occurrences (up to 97%) and stay above the widths below which quality is
known to drop (an LSTM of at least 64 units and a quarter of the embedding width; a Transformer at
least 64 wide, of whole teacher heads, at least 2 layers deep), and the parameter-only choice itself,
the cheapest wins, and shapes within 10% of each other's cost fall back on the preferences above. With a latency budget, the best-quality
shape estimated to meet it wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from kdedge.errors import ConfigError
from kdedge.students.bag import BagConfig
from kdedge.students.bilstm import BiLSTMConfig

TOLERANCE = 0.10
EMBEDDING_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 300)
HIDDEN_GRID = tuple(range(16, 256, 8)) + tuple(range(256, 1025, 32))
MIN_VOCAB = 258  # padding, unknown and 256 tokens: below this a tokenizer's ids mostly collapse
WANTED_COVERAGE = 0.97
MIN_WIDTH = 64  # narrower Transformers lose more than they gain from the extra tokens or layers
MIN_HIDDEN = 64  # LSTM units per direction a cost-ranked default keeps (32 lost 1.0 ± 1.1 points over 3 seeds), and e/4
MIN_LAYERS = 2  # layers a cost-ranked Transformer default keeps: small students gain more from depth than width
# bag students: vectors wider than this learned less from the default transfer set (on its split, 300-d at 10x of
# MiniLM kept 0.7385 test accuracy, 128-d at 30x 0.7520: one seed each), so a larger budget buys bigram rows
BAG_MAX_WIDTH = 128
BAG_BIGRAM_SHARE = 4  # hashed bigram rows per vocabulary row, at most
COST_STEP = 1.1  # cost-ranked defaults: shapes whose estimates differ by less than this factor cost the same


@dataclass(frozen=True)
class BiLSTMShape:
    embedding_dim: int
    hidden_size: int
    vocab_size: int
    params: int
    coverage: float
    reason: str
    estimated_ms: float | None = None  # with a latency estimator: this shape's estimated batch latency
    considered: tuple = ()  # with a latency estimator: (shape text, parameters, coverage, estimated ms) each


LatencyOf = Callable[..., float]  # shape keywords (embedding_dim, hidden_size | layers, hidden_size,
# intermediate_size) → estimated milliseconds per batch (kdedge.export.shape_latency.ShapeLatency)


def budget_for(teacher_params: int, target: float | None, max_params: int | None) -> int:
    budgets = [teacher_params / target] if target else []
    budgets += [max_params] if max_params else []
    return int(min(budgets))


def solve_bilstm_shape(
    budget: int,
    coverage: np.ndarray,
    num_labels: int,
    teacher_vocab_size: int,
    embedding_dim: int | None = None,
    hidden_size: int | None = None,
    vocab_size: int | None = None,
    teacher_params: int | None = None,
    latency: LatencyOf | None = None,
    latency_ms: float | None = None,
    latency_spec: str = "",
) -> BiLSTMShape:
    """`coverage[k]`: share of token occurrences covered by the k most frequent tokens (vocabulary.coverage_curve);
    the vocabulary also holds two rows for padding and unknown. With `latency` (an estimator) and
    `latency_ms`, only shapes estimated to run `latency_spec` within `latency_ms` are eligible."""
    used = len(coverage) - 1  # distinct tokens in the data, padding and unknown excluded
    max_vocab = used + 2
    widths = (embedding_dim,) if embedding_dim else EMBEDDING_GRID
    hiddens = (hidden_size,) if hidden_size else HIDDEN_GRID
    candidates = []
    for e in widths:
        for h in _hidden_options(hiddens, e, budget, max_vocab, num_labels, explicit=bool(hidden_size or embedding_dim),
                                 narrow=latency is not None):
            fixed = BiLSTMConfig(0, e, h, num_labels, teacher_vocab_size).params
            v = vocab_size or min(max_vocab, (budget - fixed) // e)
            if v < min(MIN_VOCAB, max_vocab):
                continue
            params = fixed + v * e
            if not _within(params, budget):
                continue
            covered = float(coverage[min(v - 2, used)])
            score = (round(min(covered, WANTED_COVERAGE), 3), -abs(np.log(h / e / 1.5)), e)
            candidates.append((score, BiLSTMShape(e, h, int(v), int(params), covered, "")))
    if not candidates:
        smallest = BiLSTMConfig(min(MIN_VOCAB, max_vocab), widths[0], hiddens[0], num_labels, teacher_vocab_size).params
        largest = BiLSTMConfig(max_vocab, widths[-1], hiddens[-1], num_labels, teacher_vocab_size).params
        if teacher_params:
            hint = (
                f"reachable targets for this data run from {teacher_params / largest:.3g}x "
                f"to {teacher_params / smallest:.3g}x"
            )
        else:
            hint = f"reachable sizes run from {smallest:,} to {largest:,} parameters"
        raise ConfigError(f"no BiLSTM student has about {budget:,} parameters (±{TOLERANCE:.0%})", hint=hint)
    estimates, considered, floors = {}, (), ""
    if latency is not None:
        estimates = {id(shape): latency(embedding_dim=shape.embedding_dim, hidden_size=shape.hidden_size)
                     for _, shape in candidates}
        considered = tuple(sorted(((f"BiLSTM e{shape.embedding_dim} h{shape.hidden_size} v{shape.vocab_size}",
                                    shape.params, shape.coverage, estimates[id(shape)]) for _, shape in candidates),
                                  key=lambda row: row[3]))
        if latency_ms is None:
            def wide_enough(shape):
                return bool(hidden_size) or shape.hidden_size >= max(MIN_HIDDEN, shape.embedding_dim / 4)
            candidates, floors = _cost_ranked(candidates, estimates, wide_enough,
                                              f"an LSTM of at least {MIN_HIDDEN} units and a quarter of the "
                                              "embedding width")
        candidates = _within_latency(candidates, estimates, latency_ms, latency_spec, "BiLSTM", budget)
        candidates = _confirmed(candidates, estimates, latency, latency_ms, latency_spec, "BiLSTM", budget,
                                lambda shape: {"embedding_dim": shape.embedding_dim, "hidden_size": shape.hidden_size})
    _, best = max(candidates, key=lambda item: item[0])
    reason = (
        f"embeddings {best.embedding_dim}-d x {best.vocab_size:,} rows keep {best.coverage:.1%} of token occurrences; "
        f"LSTM {best.hidden_size} units per direction; {best.params:,} parameters "
        f"({(best.params - budget) / budget:+.1%} of the {budget:,} budget)"
    )
    if latency is not None:
        reason += _latency_reason(estimates[id(best)], latency_ms, latency_spec, considered, floors)
    return replace(best, reason=reason, estimated_ms=estimates.get(id(best)), considered=considered)


@dataclass(frozen=True)
class BagShape:
    embedding_dim: int
    hidden_size: int
    vocab_size: int
    ngram_buckets: int
    params: int
    coverage: float
    reason: str
    estimated_ms: float | None = None  # no estimator: a bag's cost is a lookup per token, whatever its shape
    considered: tuple = ()


def solve_bag_shape(
    budget: int,
    coverage: np.ndarray,
    num_labels: int,
    teacher_vocab_size: int,
    embedding_dim: int | None = None,
    hidden_size: int | None = None,
    vocab_size: int | None = None,
    ngram_buckets: int | None = None,
    teacher_params: int | None = None,
) -> BagShape:
    """A bag of embeddings for `budget` parameters. Its cost per text is a lookup per token and a small
    head, whatever the shape, so only quality decides: the vocabulary rows that keep the most token
    occurrences (up to 97%), the widest vectors that fit (up to BAG_MAX_WIDTH), the head as wide as them,
    and what is left (at most BAG_BIGRAM_SHARE rows per vocabulary row) for hashed token bigrams
    (fastText's word n-grams; `ngram_buckets` 0 turns them off)."""
    used = len(coverage) - 1
    max_vocab = used + 2
    candidates = []
    for e in ((embedding_dim,) if embedding_dim else [width for width in EMBEDDING_GRID if width <= BAG_MAX_WIDTH]):
        h = hidden_size or e
        head = BagConfig(0, e, h, num_labels, teacher_vocab_size).params
        for v in ((vocab_size,) if vocab_size else _bag_vocab_options(coverage, max_vocab)):
            rows = (budget - head) // e - v if ngram_buckets is None else ngram_buckets
            buckets = int(min(max(rows, 0), BAG_BIGRAM_SHARE * v)) if ngram_buckets is None else ngram_buckets
            params = BagConfig(v, e, h, num_labels, teacher_vocab_size, buckets).params
            if v < min(MIN_VOCAB, max_vocab) or not _within(params, budget):
                continue
            covered = float(coverage[min(v - 2, used)])
            candidates.append(((round(min(covered, WANTED_COVERAGE), 3), e, buckets, -v),
                               BagShape(e, h, int(v), buckets, int(params), covered, "")))
    if not candidates:
        smallest = BagConfig(min(MIN_VOCAB, max_vocab), EMBEDDING_GRID[0], EMBEDDING_GRID[0], num_labels,
                             teacher_vocab_size).params
        hint = (f"a bag student needs at least {smallest:,} parameters"
                + (f" (targets up to {teacher_params / smallest:.3g}x)" if teacher_params else "")
                + "; or set student.embedding_dim / vocab_size / ngram_buckets explicitly")
        raise ConfigError(f"no bag-of-embeddings student has about {budget:,} parameters (±{TOLERANCE:.0%})", hint=hint)
    _, best = max(candidates, key=lambda item: item[0])
    reason = (f"token vectors {best.embedding_dim}-d x {best.vocab_size:,} rows keep {best.coverage:.1%} of token "
              f"occurrences; {best.ngram_buckets:,} hashed bigram rows; head {best.hidden_size} wide; "
              f"{best.params:,} parameters ({(best.params - budget) / budget:+.1%} of the {budget:,} budget)")
    return replace(best, reason=reason)


def _bag_vocab_options(coverage: np.ndarray, max_vocab: int) -> list[int]:
    """Vocabulary sizes worth trying: the rows that reach each coverage step up to 97%, and all rows."""
    steps = [int(np.searchsorted(coverage, share)) + 2 for share in (0.80, 0.85, 0.90, 0.93, 0.95, WANTED_COVERAGE)]
    return sorted({min(max(step, MIN_VOCAB), max_vocab) for step in steps} | {max_vocab})


def _cost_ranked(candidates: list, estimates: dict, wide_enough: Callable, floors: str) -> tuple[list, str]:
    """Cost-ranked default: the candidates above the quality floors, and the parameter-only choice (so a
    default is never costlier than it: on small budgets the floors can be wider than it), each scored by
    token coverage first, then estimated cost in COST_STEP steps (cheaper first), then its old score."""
    by_parameters = max(candidates, key=lambda item: item[0])
    kept = [item for item in candidates if wide_enough(item[1]) or item is by_parameters]
    ranked = [((score[0], -round(np.log(max(estimates[id(shape)], 1e-3)) / np.log(COST_STEP)), *score[1:]), shape)
              for score, shape in kept]
    return ranked, floors if len(kept) < len(candidates) else ""


def _within_latency(candidates: list, estimates: dict, latency_ms: float | None, spec: str, kind: str,
                    budget: int) -> list:
    """The candidates estimated to meet `latency_ms`; none is a ConfigError naming the fastest reachable."""
    if latency_ms is None:
        return candidates
    fitting = [item for item in candidates if estimates[id(item[1])] <= latency_ms]
    if not fitting:
        fastest = min(estimates.values())
        raise ConfigError(
            f"no {kind} student of about {budget:,} parameters runs a batch of {spec.split('@')[-1]} tokens in "
            f"{latency_ms:g} ms on this machine: the fastest reachable is {fastest:.1f} ms (estimated)",
            hint=f"raise --latency to {fastest * 1.1:.1f}ms@{spec.split('@')[-1]} or more, ask for a smaller "
                 "student with a higher --target, or (whole-text classification) take the fastest kind, a bag of "
                 "embeddings: --student bag, without --latency")
    return fitting


def _confirmed(candidates: list, estimates: dict, latency: LatencyOf, latency_ms: float | None, spec: str, kind: str,
               budget: int, keywords: Callable, tries: int = 4) -> list:
    """With a budget and an estimator that can also `measure`, time the best candidates one by one (best
    quality first) and keep the first that meets the budget as measured; its estimate becomes the
    measurement. The cost model ranks; a measurement decides."""
    measure = getattr(latency, "measure", None)
    if latency_ms is None or measure is None:
        return candidates
    ranked = sorted(candidates, key=lambda item: item[0], reverse=True)
    timed = []
    for item in ranked[:tries]:
        measured = measure(**keywords(item[1]))
        timed.append(measured)
        if measured <= latency_ms:
            estimates[id(item[1])] = measured
            return [item]
    raise ConfigError(
        f"no {kind} student of about {budget:,} parameters was measured within {latency_ms:g} ms for a batch of "
        f"{spec.split('@')[-1]} tokens on this machine: the {len(timed)} best shapes the cost model let through "
        f"took {', '.join(f'{ms:.1f}' for ms in timed)} ms; the fastest reachable is about "
        f"{min(estimates.values()):.1f} ms (estimated)",
        hint="raise --latency a little (the machine may also be busy), or ask for a smaller student with a "
             "higher --target")


def _latency_reason(estimate: float, latency_ms: float | None, spec: str, considered: tuple, floors: str = "") -> str:
    shape = spec.split("@")[-1] if "@" in spec else spec
    low, high = considered[0][3], considered[-1][3]
    if latency_ms is None:  # ranked by the committed cost model
        cheaper = sum(row[3] < estimate / COST_STEP for row in considered)
        return (f"; estimated {estimate:.1f} ms per batch of {shape} by the committed cost model; "
                f"{len(considered)} shapes considered, estimated {low:.1f}-{high:.1f} ms; chosen as the cheapest "
                f"that keeps the most token occurrences" + (f" with {floors}" if floors else "")
                + (f" ({cheaper} cheaper shapes keep fewer tokens or fall below those widths)" if cheaper else ""))
    text = f"; {estimate:.1f} ms per batch of {shape} on this CPU"
    eligible = sum(row[3] <= latency_ms for row in considered)
    text += f" (budget {latency_ms:g} ms: {eligible} of {len(considered)} shapes fit, best quality among them)"
    return text + f"; {len(considered)} shapes considered, estimated {low:.1f}-{high:.1f} ms"


def _within(params: int, budget: int) -> bool:
    """Both the parameter count and the compression ratio within ±10% of their targets."""
    return budget / (1 + TOLERANCE) <= params <= budget * (1 + TOLERANCE)


def _hidden_options(grid: tuple[int, ...], e: int, budget: int, max_vocab: int, labels: int, explicit: bool,
                    narrow: bool = False) -> list[int]:
    """Grid widths about 1-4x the embedding width (down to 1/8 of it under a latency budget: an LSTM
    narrower than its embeddings is much faster, and the parameters go to vocabulary rows, which cost a
    lookup), plus the width that fills the budget exactly when the whole vocabulary fits (small data),
    which a coarse grid can step over."""
    lowest = 1 / 8 if narrow else 1
    options = [h for h in grid if explicit or lowest <= h / e <= 4]
    # params = 8h² + (8e + 16 + 2·labels)·h + V·e + labels, for V = max_vocab
    a, b, c = 8, 8 * e + 16 + 2 * labels, max_vocab * e + labels - budget
    if c < 0 and not explicit:
        exact = int((-b + (b * b - 4 * a * c) ** 0.5) / (2 * a))
        if exact >= 8:
            options.append(exact)
    return options


@dataclass(frozen=True)
class TransformerShape:
    num_layers: int
    num_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    params: int
    coverage: float
    reason: str
    estimated_ms: float | None = None
    considered: tuple = ()

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.head_dim


def solve_transformer_shape(
    budget: int,
    coverage: np.ndarray,
    teacher_config,
    num_labels: int,
    max_position: int,
    num_layers: int | None = None,
    num_heads: int | None = None,
    hidden_size: int | None = None,
    intermediate_size: int | None = None,
    vocab_size: int | None = None,
    teacher_params: int | None = None,
    reserved_tokens: int = 2,
    latency: LatencyOf | None = None,
    latency_ms: float | None = None,
    latency_spec: str = "",
    task: str = "sequence-classification",
) -> TransformerShape:
    """A sub-shape of the teacher (fewer layers, heads, head dims, FFN neurons, tokens) near `budget`.

    Preference: ≥97% token coverage, then a width of at least 64, then whole heads (the teacher's
    head dimension), then the largest Transformer body (parameters outside the embeddings), then
    depth (small students gain more from depth than width: Turc et al. 2019). `task`: a
    token-classification student has no pooler, so its budget goes to the rest.
    """
    from kdedge.students.transformer import TransformerConfig

    used = len(coverage) - 1  # distinct ordinary tokens in the data; `reserved_tokens` special rows come on top
    max_vocab = used + reserved_tokens
    teacher_heads = teacher_config.num_attention_heads
    teacher_head_dim = teacher_config.hidden_size // teacher_heads
    layer_options = [num_layers] if num_layers else range(1, teacher_config.num_hidden_layers + 1)
    head_options = [num_heads] if num_heads else range(1, teacher_heads + 1)
    candidates = []
    for layers in layer_options:
        for heads in head_options:
            if hidden_size:
                dims = [hidden_size // heads] if hidden_size % heads == 0 else []
            else:
                dims = sorted({teacher_head_dim, 3 * teacher_head_dim // 4, teacher_head_dim // 2, teacher_head_dim // 4})
            for head_dim in (d for d in dims if 4 <= d <= teacher_head_dim):
                width = heads * head_dim
                ratios = [intermediate_size] if intermediate_size else [width * r for r in (1, 2, 3, 4)]
                for inner in (i for i in ratios if i <= teacher_config.intermediate_size):
                    shape = TransformerConfig(0, width, layers, heads, inner, num_labels, max_position, task=task)
                    fixed = shape.params
                    v = vocab_size or min(max_vocab, (budget - fixed) // width)
                    if v < min(MIN_VOCAB, max_vocab):
                        continue
                    params = fixed + v * width
                    if not _within(params, budget):
                        continue
                    covered = float(coverage[max(0, min(v - reserved_tokens, used))])
                    body = fixed - (max_position + 2) * width
                    closeness = -int(abs(params - budget) / budget / 0.03)  # in 3% steps
                    score = (round(min(covered, WANTED_COVERAGE), 3), closeness, width >= MIN_WIDTH,
                             head_dim == teacher_head_dim, round(np.log(body) * 10), layers)
                    candidates.append((score, TransformerShape(layers, heads, head_dim, inner, int(v), int(params),
                                                               covered, "")))
    if not candidates:
        smallest = TransformerConfig(min(MIN_VOCAB, max_vocab), 4, 1, 1, 4, num_labels, max_position, task=task).params
        largest = TransformerConfig(max_vocab, teacher_config.hidden_size, teacher_config.num_hidden_layers,
                                    teacher_heads, teacher_config.intermediate_size, num_labels, max_position, task=task).params
        hint = (f"reachable targets for this teacher and data run from {teacher_params / largest:.3g}x to "
                f"{teacher_params / smallest:.3g}x" if teacher_params else
                f"reachable sizes run from {smallest:,} to {largest:,} parameters")
        raise ConfigError(f"no Transformer student has about {budget:,} parameters (±{TOLERANCE:.0%})", hint=hint)
    estimates, considered, floors = {}, (), ""
    if latency is not None:
        estimates = {id(shape): latency(layers=shape.num_layers, hidden_size=shape.hidden_size,
                                        intermediate_size=shape.intermediate_size) for _, shape in candidates}
        considered = tuple(sorted(((f"Transformer {shape.num_layers}L h{shape.hidden_size} "
                                    f"({shape.num_heads}x{shape.head_dim}) FFN{shape.intermediate_size} "
                                    f"v{shape.vocab_size}", shape.params, shape.coverage, estimates[id(shape)])
                                   for _, shape in candidates), key=lambda row: row[3]))
        if latency_ms is None:
            def wide_enough(shape):
                return ((bool(hidden_size) or shape.hidden_size >= MIN_WIDTH)
                        and (bool(hidden_size or num_heads) or shape.head_dim == teacher_head_dim)
                        and (bool(num_layers) or shape.num_layers >= MIN_LAYERS))
            candidates, floors = _cost_ranked(candidates, estimates, wide_enough,
                                              f"a width of at least {MIN_WIDTH}, whole teacher heads and at least "
                                              f"{MIN_LAYERS} layers")
        candidates = _within_latency(candidates, estimates, latency_ms, latency_spec, "Transformer", budget)
        candidates = _confirmed(candidates, estimates, latency, latency_ms, latency_spec, "Transformer", budget,
                                lambda shape: {"layers": shape.num_layers, "hidden_size": shape.hidden_size,
                                               "intermediate_size": shape.intermediate_size})
    _, best = max(candidates, key=lambda item: item[0])
    reason = (
        f"{best.num_layers} of {teacher_config.num_hidden_layers} layers, {best.num_heads} of {teacher_heads} heads "
        f"x {best.head_dim} dims (hidden {best.hidden_size}), FFN {best.intermediate_size}; "
        f"{best.vocab_size:,} tokens keep {best.coverage:.1%} of token occurrences; {best.params:,} parameters "
        f"({(best.params - budget) / budget:+.1%} of the {budget:,} budget)"
    )
    if latency is not None:
        reason += _latency_reason(estimates[id(best)], latency_ms, latency_spec, considered, floors)
    return replace(best, reason=reason, estimated_ms=estimates.get(id(best)), considered=considered)
