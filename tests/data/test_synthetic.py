import numpy as np

from uavm.data.datafile import read_datafile
from uavm.data.labels import load_labels
from uavm.data.synthetic import synthetic_clips, write_synthetic


def test_each_modality_carries_part_of_the_class():
    classes, audio, visual = synthetic_clips(400, num_classes=8, dim=4, seq_len=3, noise=0.0)
    assert audio.dtype == np.float32 and visual.dtype == np.float16 and audio.shape == (400, 3, 4)
    # without noise: audio is a function of c // 2 and visual of c % 2, and nothing more
    for c in range(8):
        assert np.allclose(audio[classes == c], audio[classes == (c ^ 1)][0])
        assert np.allclose(visual[classes == c], visual[classes == (c + 2) % 8][0])
    assert not np.allclose(audio[classes == 0][0], audio[classes == 2][0])
    assert not np.allclose(visual[classes == 0][0], visual[classes == 1][0])


def test_written_in_the_reference_layout(tmp_path):
    paths = write_synthetic(tmp_path, {"train": 5, "test": 3}, num_classes=4, dim=4, seq_len=2)
    assert len(load_labels(paths["labels"])) == 4
    entries = read_datafile(paths["test"])
    assert [e.clip_id for e in entries] == ["test_00000", "test_00001", "test_00002"]
    assert np.load(entries[0].afeat).shape == (2, 4) and np.load(entries[0].vfeat).dtype == np.float16
