"""Several server processes share one model store (deploy/replicas.py): what another process saves, replaces or makes
active is what this one shows at its next run, although it caches predictors and predictions (app_pages/resources.py);
and its training registry takes its slots in the store's folder, so the one-training limit holds for all of them.

"Another process" is a second ``ModelStore`` on the same folder: it writes the files as another replica would."""

from __future__ import annotations

import numpy as np

from app_pages import resources
from model_store.store import ModelStore
from tests.unit.unit_data import meta_for, tiny_conv_model

NAMES = [str(i) for i in range(10)]


def test_a_model_replaced_under_its_name_by_another_process_is_read_anew(open_app, tmp_path):
    other = ModelStore(user_dir=tmp_path / "models")  # open_app's store folder, seen from another process
    first, second = tiny_conv_model(seed=1), tiny_conv_model(seed=2)
    other.save(first, meta_for(), "shared")
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    before = resources.prediction("shared", image, NAMES)
    np.testing.assert_allclose(before.probabilities, np.asarray(first(image[None, ..., None]))[0], atol=1e-5)

    other.delete("shared")
    other.save(second, meta_for(), "shared")
    after = resources.prediction("shared", image, NAMES)  # same name, same image: a new model
    np.testing.assert_allclose(after.probabilities, np.asarray(second(image[None, ..., None]))[0], atol=1e-5)
    assert resources.predictor("shared").model is not None

    other.set_active("mnist", "shared")
    assert resources.store().active("mnist") == "shared"
    other.rename("shared", "renamed")
    names = [e.name for e in resources.store().for_dataset("mnist")]
    assert "renamed" in names and "shared" not in names and resources.store().active("mnist") == "renamed"
    assert resources.prediction("renamed", image, NAMES) is not None


def test_the_apps_training_limit_is_kept_in_the_store_folder(open_app, tmp_path):
    assert resources.jobs().slot_folder == resources.store().user_dir == tmp_path / "models"
