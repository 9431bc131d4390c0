"""Training data: label vocabularies, reference datafiles, sampling, transforms, datasets.

Names load on first use.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "LabelSet": ".labels",
    "load_labels": ".labels",
    "read_label_csv": ".labels",
    "DataEntry": ".datafile",
    "read_datafile": ".datafile",
    "write_datafile": ".datafile",
    "FeatureDataset": ".dataset",
    "StoreDataset": ".dataset",
    "DatafileDataset": ".dataset",
    "open_dataset": ".dataset",
    "TrainBatches": ".dataset",
    "AugmentConfig": ".transforms",
    "balanced_weights": ".sampling",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
