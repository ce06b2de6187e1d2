"""Add a model file someone gave (the Models page's upload, ``python -m model_store add``) to the store.

In order, each step refusing with its reason: the name (before anything slow), the file's container (in
this process, headers only), then loading, checking, scoring and re-saving it in the sandbox's bounded
process, and last the move into the store. The server never loads the uploaded bytes itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store import sandbox
from model_store.refusal import Notice
from model_store.store import Entry, ModelStore
from model_store.upload import check_container


@dataclass
class Added:
    entry: Entry
    notes: list[Notice]  # what was changed or should be known (a softmax appended, layers renamed)


def add_model(store: ModelStore, data: bytes, filename: str, dataset: str, class_names: list[str], name: str,
              test: tuple[np.ndarray, np.ndarray] | None = None, limits: sandbox.Limits | None = None) -> Added:
    """Check, score (on ``test``: uint8 images and labels, when given) and store a model file under ``name``.
    Raises a ``Refusal`` (``InvalidName``, ``NameTaken``, ``UploadError``, ``ReadOnlyStore``) saying why not."""
    name = store.check_new_name(name)
    check_container(data, filename)
    with store.work_dir() as work:
        opened = sandbox.open_untrusted(data, filename, dataset, class_names, work, test=test, limits=limits)
        entry = store.add_file(opened.model_file, opened.meta, name)
    return Added(entry=entry, notes=opened.notes)
