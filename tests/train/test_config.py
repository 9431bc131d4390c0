from pathlib import Path

import pytest
import yaml

from uavm.errors import ConfigError
from uavm.recipes.vggsound_released import PAPER_RECIPE
from uavm.train.config import TrainConfig, apply_overrides, build_config, config_from_recipe, load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_overrides_are_read_as_yaml():
    out = apply_overrides(
        {"model": {"arch": "unified"}, "lr": 1.0},
        ["model.embed_dim=64", "lr=1e-4", "noise=false", "test=null", "labels=my labels.csv"],
    )
    assert out["model"] == {"arch": "unified", "embed_dim": 64}
    assert out["noise"] is False and out["test"] is None and out["labels"] == "my labels.csv"
    assert build_config({**out, "train": "t.json"}).lr == 1e-4  # "1e-4" is a string to YAML; coerced


@pytest.mark.parametrize(
    "values, problem",
    [
        ({"train": "t", "bogus": 1}, "unknown setting\\(s\\): bogus"),
        ({"train": "t", "lr": "fast"}, "lr must be a number"),
        ({"train": "t", "epochs": 2.5}, "epochs must be a whole number"),
        ({"train": "t", "noise": "yes"}, "noise must be true or false"),
        ({"train": "t", "loss": "mse"}, "loss must be one of ce, bce"),
        ({"train": "t", "mixup": 2}, "mixup must be in \\[0, 1\\]"),
        ({"train": "t", "label_smoothing": 1.0}, "label_smoothing must be in \\[0, 1\\)"),
        ({"train": "t", "lr_decay": -0.5}, "lr_decay must be positive"),
        ({"train": "t", "seed": -1}, "seed must not be negative"),
        ({"train": "t", "warmup_steps": -5}, "warmup_steps must not be negative"),
        ({"train": "t", "model": {"arch": "rnn"}}, "model: unknown architecture"),
        ({"train": "t", "model": {"embed_dim": 30, "num_heads": 4}}, "not divisible"),
        ({"train": "t", "select_on": "test"}, "needs a test split"),
        ({"train": "t", "dataset": "kinetics"}, "dataset must be one of"),
        ({}, "no training data"),
    ],
)
def test_bad_settings_are_one_line_errors(values, problem):
    with pytest.raises(ConfigError, match=problem) as info:
        build_config(values)
    assert "\n" not in str(info.value)


def test_dataset_sets_loss_metric_and_labels():
    c = build_config({"train": "t", "dataset": "audioset"})
    assert (c.loss, c.main_metric, c.labels) == ("bce", "mAP", "audioset")
    c = build_config({"train": "t", "dataset": "audioset", "main_metric": "acc"})
    assert c.main_metric == "acc"


def test_bad_override_and_recipe_files(tmp_path):
    with pytest.raises(ConfigError, match="not key=value"):
        apply_overrides({}, ["lr"])
    (tmp_path / "r.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="a recipe is a YAML mapping"):
        load_recipe(tmp_path / "r.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(tmp_path / "bad.yaml")
    (tmp_path / "twice.yaml").write_text("epochs: 1\nlr: 0.1\nepochs: 2\n")
    with pytest.raises(ConfigError, match="twice.yaml: not valid YAML \\('epochs' is set twice, on lines 1 and 3\\)"):
        load_recipe(tmp_path / "twice.yaml")
    (tmp_path / "tab.yaml").write_text("epochs: 1\n\tlr: 0.1\n")
    with pytest.raises(ConfigError, match="found character '\\\\t' that cannot start any token on line 2"):
        load_recipe(tmp_path / "tab.yaml")
    with pytest.raises(ConfigError, match="cannot read recipe"):
        load_recipe(tmp_path / "none.yaml")


PAPER_RUNS = [
    RECIPES / d / f"{m}.yaml" for d in ("vggsound", "audioset") for m in ("uavm", "independent", "cross_attention")
]


@pytest.mark.parametrize("path", PAPER_RUNS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_paper_recipes(path):
    c = config_from_recipe(path, ["train=x", "test=y"])
    dataset = path.parent.name
    assert c.labels == dataset and c.batch_size == 144 and c.epochs == 10 and c.lr_decay == 0.5
    assert c.lr == {"vggsound": 5e-5, "audioset": 1e-5}[dataset]
    assert (c.loss, c.main_metric) == {"vggsound": ("ce", "acc"), "audioset": ("bce", "mAP")}[dataset]
    assert (c.mixup, c.label_smoothing, c.noise, c.feat_norm, c.balanced) == (0.5, 0.1, True, True, True)
    model = c.model_config(num_classes=309)
    assert (model.embed_dim, model.upper_dim, model.num_heads, model.seq_len) == (1024, 1024, 4, 30)
    depths = {"uavm": (3, 3), "independent": (6, 0), "cross_attention": (3, 3)}[path.stem]
    assert (model.depth_i, model.depth_s) == depths
    assert model.arch == {"uavm": "unified"}.get(path.stem, path.stem)


def test_built_in_recipe_equals_the_vggsound_uavm_yaml():
    on_disk = yaml.safe_load((RECIPES / "vggsound" / "uavm.yaml").read_text())
    for key in ("train", "test", "out_dir", "zero_grad_set_to_none"):
        on_disk.pop(key)
    assert on_disk == PAPER_RECIPE
    assert TrainConfig().zero_grad_set_to_none is False


@pytest.mark.parametrize(
    "override, problem",
    [
        ("bf16=maybe", "bf16 must be true or false"),
        ("lr=[1, 2]", "lr must be a number"),
        ("epochs=null", "epochs must be a number, got null"),
        ("labels=[a, b]", "labels must be a string"),
        ("device=nonsense", "device 'nonsense' is not a torch device"),
        ("seed=true", "seed must be a number"),
    ],
)
def test_both_trainers_refuse_the_same_bad_values_in_one_line(override, problem):
    from uavm.train.audio_encoder import config_from_recipe as audio_config

    for parse in (config_from_recipe, audio_config):
        with pytest.raises(ConfigError, match=problem) as info:
            parse(None, ["train=t.json", override])
        assert "\n" not in str(info.value)


def test_both_trainers_accept_bf16_unset_or_boolean():
    from uavm.train.audio_encoder import config_from_recipe as audio_config

    for parse in (config_from_recipe, audio_config):
        assert parse(None, ["train=t.json", "bf16=null"]).bf16 is None
        assert parse(None, ["train=t.json", "bf16=false", "device=cpu"]).bf16 is False
