import numpy as np
import pytest

from uavm.data.labels import load_labels, read_label_csv
from uavm.errors import ConfigError, UAVMError


def test_packaged_vocabularies():
    vgg = load_labels("vggsound")
    assert len(vgg) == 309 and vgg.source == "vggsound"
    assert vgg.mids[0] == "vgg_0" and vgg.names[0] == "ambulance siren"
    assert vgg.index("vgg_308") == 308
    audioset = load_labels("AudioSet")
    assert len(audioset) == 527
    assert audioset.mids[0] == "/m/09x0r" and audioset.names[0] == "Speech"


def test_custom_csv_is_ordered_by_index(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text('index,mid,display_name\n1,/m/b,"Bee, wasp"\n0,/m/a,Ant\n2,/m/c,Cat\n')
    labels = load_labels(p)
    assert labels.mids == ("/m/a", "/m/b", "/m/c")
    assert labels.names[1] == "Bee, wasp"
    assert labels.indices("/m/c,/m/a") == [2, 0]
    assert labels.indices(["/m/b"]) == [1]
    np.testing.assert_array_equal(labels.multi_hot("/m/a,/m/c"), [1, 0, 1])


def test_unknown_mid_names_the_vocabulary(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("index,mid,display_name\n0,a,A\n")
    with pytest.raises(UAVMError, match="'zzz'.*labels.csv"):
        read_label_csv(p).index("zzz")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("mid,display_name\na,A\n", "needs columns"),
        ("index,mid,display_name\n0,a,A\n2,b,B\n", "without gaps"),
        ("index,mid,display_name\nx,a,A\n", "integers"),
    ],
)
def test_bad_csv_is_a_one_line_error(tmp_path, text, problem):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_labels(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_missing_csv(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_labels(tmp_path / "nope.csv")
