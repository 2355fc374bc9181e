"""A run folder is data, never code: every ``_target_`` it names is resolved and checked as an object (a class of an
allowed package, named by its module) before anything is built, by ``genmodels.evaluate`` and ``resume=`` alike."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genmodels.errors import RunFolderError
from genmodels.runs.definition import COMMAND_ONLY_KEYS, read_run_config
from genmodels.runs.trust import check_run_targets
from tests.helpers import CONFIGS, files_of

SOURCE = Path("run/.hydra/config.yaml")
# Strings that resolve to code through a module's attributes, functions of the project, a foreign class.
REFUSED = [
    "torch.nn.modules.module.torch.hub.load",  # torch.hub.load by a walk through torch.nn's attributes
    "torch.nn.modules.module.torch.load",
    "genmodels.runs.atomic.write_json",  # a function of the project
    "genmodels.runs.folder.shutil.copyfile",
    "genmodels.runs.atomic.os.system",
    "genmodels.runs.folder.Path",  # pathlib.Path through a project module
    "torch.nn.modules.module.OrderedDict",  # collections.OrderedDict through an allowed module
    "genmodels.callbacks.samples.Path",
    "torch.nn.functional.relu",  # a function inside an allowed package
    "genmodels.models.vae.nn",  # a module
    "genmodels.models.NoSuchClass",
    "torch.nn..Linear",
    "os.system",
    "shutil.copyfile",
    "Linear",
    5,
]


def config_with(target) -> OmegaConf:
    return OmegaConf.create({"model": {"_target_": "genmodels.models.vae.VAE", "optimizer": {"_target_": target}}})


@pytest.mark.parametrize("target", REFUSED, ids=str)
def test_a_target_that_is_not_an_allowed_class_is_refused_in_one_line(target):
    with pytest.raises(RunFolderError) as refused:
        check_run_targets(config_with(target), SOURCE)
    message = str(refused.value)
    assert message.startswith(f"{SOURCE} names model.optimizer._target_={target}, which genmodels does not build")
    assert "\n" not in message and message.count("Fix:") == 1 and "trust_run_config=true" in message


def test_checking_a_target_imports_no_module_outside_the_allowed_packages():
    code = (
        "import sys\nfrom pathlib import Path\nfrom omegaconf import OmegaConf\n"
        "from genmodels.runs.trust import check_run_targets\n"
        "assert 'xmlrpc.server' not in sys.modules\n"
        "config = OmegaConf.create({'model': {'_target_': 'xmlrpc.server.SimpleXMLRPCServer'}})\n"
        "try:\n    check_run_targets(config, Path('c.yaml'))\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
        "print('xmlrpc.server' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["RunFolderError", "False"]


def test_the_command_may_allow_more_classes_or_trust_the_folder():
    foreign = config_with("collections.OrderedDict")
    with pytest.raises(RunFolderError, match=r"allowed_targets=\[collections.OrderedDict\]"):
        check_run_targets(foreign, SOURCE)
    check_run_targets(foreign, SOURCE, allowed=["collections.OrderedDict"])  # a class named by the command
    check_run_targets(foreign, SOURCE, allowed=["collections."])  # or its package
    with pytest.raises(RunFolderError, match="not a class"):  # a function stays refused: only trust lifts that
        check_run_targets(config_with("os.system"), SOURCE, allowed=["os.system"])
    check_run_targets(config_with("os.system"), SOURCE, trust=True)


def shipped_configs() -> list[list[str]]:
    """The overrides of every option of the groups that name classes."""
    groups = ("model", "experiment", "callbacks", "logger", "lr_scheduler", "trainer", "data", "debug")
    return [[f"{group}={path.stem}"] for group in groups for path in sorted((CONFIGS / group).glob("*.yaml"))]


@pytest.mark.parametrize("overrides", shipped_configs(), ids=lambda o: " ".join(o))
def test_every_shipped_config_passes(overrides, tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    check_run_targets(cfg, SOURCE)
    saved = tmp_path / ".hydra" / "config.yaml"  # as a run keeps it, without the command's trust options
    saved.parent.mkdir()
    OmegaConf.save(OmegaConf.masked_copy(cfg, [key for key in cfg if key not in COMMAND_ONLY_KEYS]), saved)
    assert read_run_config(saved) == OmegaConf.load(saved)  # complete and valid


class Payload:
    """A pickle whose loading runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def hub_payload(run: Path, marker: Path) -> dict:
    (run / "evil").mkdir()
    (run / "evil" / "hubconf.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n\ndef x(**kwargs):\n    pass\n")
    return {
        "_target_": "torch.nn.modules.module.torch.hub.load",
        **dict(repo_or_dir=str(run / "evil"), model="x", source="local", trust_repo=True),
    }


def pickle_payload(run: Path, marker: Path) -> dict:
    (run / "evil.pkl").write_bytes(pickle.dumps(Payload(f"touch {marker}")))
    return {"_target_": "torch.nn.modules.module.torch.load", "f": str(run / "evil.pkl"), "weights_only": False}


@pytest.mark.parametrize("payload", [hub_payload, pickle_payload], ids=["hubconf.py", "pickle"])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_crafted_run_folder_runs_nothing(run_main, cli_vae_run, tmp_path, payload, command):
    run, marker = tmp_path / "run", tmp_path / "payload_ran"
    shutil.copytree(cli_vae_run, run)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.model = payload(run, marker)  # model: any class; data must fit the data schema
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    before = files_of(run)
    if command == "evaluate":
        result = run_main("genmodels.evaluate", f"run_dir={run}", "metrics.sample_quality=false", check=False)
    else:
        result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    assert not marker.exists()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"model._target_={config.model._target_}" in errors[0], result.stderr[-2000:]
    assert files_of(run) == before
