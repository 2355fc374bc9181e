"""Options of a `_target_` node checked against the target's signature and type hints (a user's model too)."""

from collections.abc import Sequence
from typing import Literal

import pytest
from omegaconf import OmegaConf

from genmodels.errors import ConfigError
from genmodels.target_options import check_target_options, fits, type_name


class UserModel:
    """A model of a user's own, with a network built from its own node."""

    def __init__(self, net: object, rate: float = 0.1, sizes: Sequence[int] = (8,), mode: Literal["a", "b"] = "a",
                 steps: int | None = None) -> None:  # fmt: skip
        self.net = net


class OpenModel:
    def __init__(self, width: int = 4, **others) -> None:
        raise RuntimeError("a bug inside a correct constructor")


def node(**options):
    return OmegaConf.create({"size": 3, "model": {"_target_": f"{__name__}.UserModel", **options}})


@pytest.mark.parametrize(
    "options",
    [
        {"net": {"_target_": f"{__name__}.OpenModel", "extra": "anything"}},  # **kwargs takes any key
        {"net": None, "rate": 1, "sizes": [1, 2], "mode": "b", "steps": None},  # an int where a float is asked
        {"net": None, "sizes": ["${size}"], "steps": "${size}"},  # interpolations are resolved first
    ],
)
def test_options_that_fit_pass(options):
    check_target_options(node(**options).model, "model")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"rate": "abc"}, "model.rate must be of type float (tests.test_target_options.UserModel takes rate: float), "
                          "got 'abc'. Fix: e.g. model.rate=0.1 (the default)"),
        ({"sizes": "foo"}, "model.sizes must be of type list[int]"),
        ({"sizes": [1, 1.5]}, "got [1, 1.5]. Fix: e.g. model.sizes=[8] (the default)"),
        ({"steps": 1.5}, "model.steps must be of type int or null"),
        ({"steps": True}, "model.steps must be of type int or null"),  # a bool is no int in a config
        ({"mode": "c"}, "model.mode must be of type a or b"),
        ({"rates": 1.0}, "model.rates is not an option of tests.test_target_options.UserModel, which takes net, rate, "
                         "sizes, mode, steps. Fix: did you mean model.rate?"),
        ({"net": {"_target_": f"{__name__}.UserModel", "net": None, "rate": []}}, "model.net.rate must be of type"),
    ],
)  # fmt: skip
def test_a_wrong_option_names_the_key_the_type_and_the_fix(options, message):
    options.setdefault("net", None)
    with pytest.raises(ConfigError) as refused:
        check_target_options(node(**options).model, "model")
    assert message in str(refused.value)


def test_hints_as_a_config_user_reads_them():
    assert [type_name(hint) for hint in (float, Sequence[int], int | None, tuple[float, ...])] == [
        "float", "list[int]", "int or null", "list[float]"
    ]  # fmt: skip
    assert fits(3, float) and not fits(3.5, int) and not fits(False, float)
    assert fits({"_target_": "a.Net"}, UserModel)  # a class: left to its constructor


def test_a_bug_in_a_constructor_keeps_its_traceback(run_main, tmp_path):
    with pytest.raises(Exception) as failed:  # noqa: B017 - Hydra's wrapper, the model's own error as its cause
        run_main("genmodels.train", "debug=tiny", f"model._target_={__name__}.OpenModel", f"paths.log_dir={tmp_path}")
    assert isinstance(failed.value.__cause__, RuntimeError), failed.value
