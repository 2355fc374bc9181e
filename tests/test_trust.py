"""A run folder is data, never code: every ``_target_`` it names is resolved and checked as an object (a class of an
allowed package, named by its module) before anything is built, by ``genmodels.evaluate`` and ``resume=`` alike."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genmodels import report
from genmodels.errors import ConfigError, RunFolderError
from genmodels.runs.definition import COMMAND_ONLY_KEYS, read_overrides, read_run_config
from genmodels.runs.folder import folder_lock
from genmodels.runs.trust import check_resolvers, check_run_targets
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


# Each payload: a model config that runs code if built, and what the one error line names.
def hub_payload(run: Path, marker: Path, model: dict) -> tuple[dict, str]:
    (run / "evil").mkdir()
    (run / "evil" / "hubconf.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n\ndef x(**kwargs):\n    pass\n")
    target = "torch.nn.modules.module.torch.hub.load"
    options = dict(repo_or_dir=str(run / "evil"), model="x", source="local", trust_repo=True)
    return {"_target_": target, **options}, f"model._target_={target}"


def pickle_payload(run: Path, marker: Path, model: dict) -> tuple[dict, str]:
    (run / "evil.pkl").write_bytes(pickle.dumps(Payload(f"touch {marker}")))
    target = "torch.nn.modules.module.torch.load"
    return {"_target_": target, "f": str(run / "evil.pkl"), "weights_only": False}, f"model._target_={target}"


def resolver_payload(run: Path, marker: Path, model: dict) -> tuple[dict, str]:
    """A ``_target_`` that appears only when OmegaConf resolves the string (``oc.create``)."""
    (run / "evil.pkl").write_bytes(pickle.dumps(Payload(f"touch {marker}")))
    hidden = f"${{oc.create:{{_target_: torch.load, f: '{run / 'evil.pkl'}', weights_only: false}}}}"
    return {**model, "optimizer": hidden}, "which calls the resolver 'oc.create'"


@pytest.mark.parametrize(
    "payload", [hub_payload, pickle_payload, resolver_payload], ids=["hubconf.py", "pickle", "resolver"]
)
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_crafted_run_folder_runs_nothing(run_main, cli_vae_run, tmp_path, payload, command):
    run, marker = tmp_path / "run", tmp_path / "payload_ran"
    shutil.copytree(cli_vae_run, run)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.model, named = payload(run, marker, OmegaConf.to_container(config.model))  # data must fit its schema
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    before = files_of(run)
    if command == "evaluate":
        result = run_main("genmodels.evaluate", f"run_dir={run}", "metrics.sample_quality=false", check=False)
    else:
        result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    assert not marker.exists()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and named in errors[0], result.stderr[-2000:]
    assert files_of(run) == before


SAFE = ["${oc.env:GENMODELS_DATA_DIR,${project_root:}/data}", "${hydra:runtime.output_dir}", "${latent}", "a ${b.c}"]
HIDDEN = [
    "${oc.create:{_target_: os.system, _args_: [id]}}",
    "${oc.env:X,${oc.create:{_target_: os.system}}}",  # nested in an allowed one
    "${ oc.select : model}",
    "${${name}:x}",  # a resolver named by an interpolation
    "\\${oc.create:{_target_: os.makedirs, _args_: [x]}}",  # escaped: a later resolution makes it live
    "${oc.env:NOPE,'\\${oc.create:{_target_: os.makedirs}}'}",
    "${oc.env:AWS_SECRET_ACCESS_KEY}",  # a secret copied into the run's logs
]


def test_a_config_may_call_only_the_resolvers_a_run_writes():
    check_resolvers(OmegaConf.create({"paths": {"a": SAFE[0], "b": [SAFE[1]]}, "x": SAFE[2], "y": SAFE[3]}), SOURCE)
    for text in HIDDEN:
        with pytest.raises(RunFolderError, match=r"which calls the resolver .*Fix: restore") as refused:
            check_resolvers(OmegaConf.merge(config_with("torch.optim.Adam"), {"extra": {"key": text}}), SOURCE)
        assert str(refused.value).startswith(f"{SOURCE} sets extra.key to {text!r}")


def test_a_saved_config_calling_another_resolver_is_refused_before_anything_resolves(cli_vae_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.model.optimizer = "${oc.create:{_target_: builtins.open, file: '" + str(tmp_path / "made") + "', mode: w}}"
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    with pytest.raises(RunFolderError, match="'oc.create'"):
        read_run_config(run / ".hydra" / "config.yaml")
    assert not (tmp_path / "made").exists()


@pytest.mark.parametrize("override", ["hydra.searchpath=[pkg://evilmod]", "+hydra/launcher=basic", "~hydra.job"])
def test_saved_overrides_may_not_set_hydra_itself(tmp_path, override):
    path = tmp_path / "overrides.yaml"
    path.write_text(f"- latent=2\n- {override}\n")
    with pytest.raises(ConfigError, match=rf"^{path} holds {re.escape(override)}, a setting of Hydra itself"):
        read_overrides(path)


@pytest.mark.parametrize("link", [".lock", "checkpoints", "tensorboard/version_0"])
def test_a_run_folder_holding_a_link_is_refused_before_anything_is_written(tmp_path, link):
    run, outside = tmp_path / "run", tmp_path / "outside"
    (run / "tensorboard").mkdir(parents=True)
    outside.mkdir()
    (run / link).symlink_to(outside / "target")
    with pytest.raises(RunFolderError, match=rf"^{run / link} is a link \(to {outside / 'target'}\)"):
        with folder_lock(run):
            pass
    assert list(outside.iterdir()) == []


def test_saved_overrides_are_read_as_written_never_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_TEST_SECRET", "hunter2")
    path = tmp_path / "overrides.yaml"
    path.write_text("- latent=${oc.env:GENMODELS_TEST_SECRET}\n- model.beta=${nosuch:x}\n")
    assert read_overrides(path) == ["latent=${oc.env:GENMODELS_TEST_SECRET}", "model.beta=${nosuch:x}"]


def test_a_saved_file_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path):
    os.mkfifo(tmp_path / "overrides.yaml")  # a read would block
    with pytest.raises(ConfigError, match=r"overrides.yaml is not a regular file"):
        read_overrides(tmp_path / "overrides.yaml")


def test_a_resume_of_a_folder_holding_a_link_creates_nothing_through_it(run_main, cli_vae_run, tmp_path):
    run, target = tmp_path / "run", tmp_path / "outside" / "created"
    shutil.copytree(cli_vae_run, run)
    target.parent.mkdir()
    (run / "train.log").unlink(missing_ok=True)
    (run / "train.log").symlink_to(target)  # Hydra's log would open it before the folder's checks
    result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    assert result.returncode == 1 and not target.exists()
    assert f"error: {run / 'train.log'} is a link" in result.stderr + result.stdout


def test_the_report_writes_into_no_folder_holding_a_link(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.png"
    (out / "figures").mkdir(parents=True)
    victim.write_bytes(b"kept")
    (out / "figures" / "vae_samples.png").symlink_to(victim)
    assert report.main(["--preset", "quick", "--only", "report_vae_latent20", "--out", str(out)]) == 1
    assert victim.read_bytes() == b"kept" and not (out / "runs").exists()
