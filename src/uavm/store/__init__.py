"""The feature store: sharded, memory-mapped clip features for training at scale.

Each shard holds one float16 array ``[clips, seq_len, dim]`` per modality and a
columnar index of its clips; a batch read is one gather over all shards. See
:mod:`uavm.store.records` for the on-disk layout and
:mod:`uavm.data.reference_layout` for the reference's per-clip ``.npy`` layout.
"""

from __future__ import annotations

from .merge import merge_parts
from .reader import FeatureStore
from .records import MODALITIES, ClipRecord
from .writer import FeatureStoreWriter

__all__ = ["MODALITIES", "ClipRecord", "FeatureStore", "FeatureStoreWriter", "merge_parts"]
