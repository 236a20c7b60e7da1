"""The committed cost model: fits per CPU with their errors, estimates as their geometric mean."""

import json

import numpy as np
import pytest

from kdedge.students.cost_model import CostModel, cost_features


def test_the_committed_model_has_a_fit_per_kind_with_its_error():
    for kind in ("bilstm", "transformer"):
        model = CostModel.committed(kind)
        assert model.fits and all(fit.checked >= 5 and fit.max_error < 0.5 for fit in model.fits)
        assert "held-out shapes" in model.describe()


def test_costs_grow_with_the_shape():
    bilstm = CostModel.committed("bilstm")
    assert bilstm(embedding_dim=48, hidden_size=32) < bilstm(embedding_dim=64, hidden_size=96) < \
        bilstm(embedding_dim=256, hidden_size=384)
    transformer = CostModel.committed("transformer")
    assert transformer(layers=2, hidden_size=128, intermediate_size=256) < \
        transformer(layers=6, hidden_size=192, intermediate_size=576)


def test_an_estimate_is_the_geometric_mean_of_the_cpus_fits(tmp_path):
    def fit(cpu, coefficients):
        return {"kind": "bilstm", "cpu": cpu, "coefficients": coefficients, "median_error": 0.05,
                "max_error": 0.1, "probes": 6, "checked": 6}

    path = tmp_path / "cost_model.json"
    path.write_text(json.dumps({"fits": [fit("AMD", [1.0, 0.0, 0.0]), fit("Intel", [4.0, 0.0, 0.0])]}))
    model = CostModel.committed("bilstm", path)
    assert model(embedding_dim=8, hidden_size=8) == pytest.approx(2.0)  # sqrt(1 x 4)
    assert "AMD" in model.describe() and "Intel" in model.describe()
    with pytest.raises(ValueError, match="benchmarks/cost_model.py"):
        CostModel.committed("transformer", path)


def test_features_worked_by_hand():
    np.testing.assert_allclose(cost_features("bilstm", {"embedding_dim": 48, "hidden_size": 32}, 128),
                               [1.0, 32.0, 32 * 80 / 1e3])
    np.testing.assert_allclose(cost_features("transformer", {"layers": 2, "hidden_size": 64,
                                                             "intermediate_size": 128}, 128),
                               [1.0, 2.0, 2 * 64 * (256 + 256) / 1e6, 2 * 64 * 128 / 1e3])
