"""Models from outside the zoo reach every command: README's own-objective example run as
written (``zoo --import``, then a fresh ``zoo eval`` that finds the module from the run
folder), a plugin package installed from a temporary folder (the ``zoo.models`` entry-point
group), ``ZOO_PLUGINS``, and a plugin's saved models reloaded in a fresh process."""

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

from zoo import cli
from test_readme import REPO


def zoo_cli(args, **run):
    """``zoo ARGS`` in a new process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True,
                          text=True, timeout=600, **run)


def test_the_readme_objective_example_runs_as_written_from_its_own_module(
        manual_dir, tmp_path):
    section = (REPO / "README.md").read_text().split(
        "### Your own objective, from your own module\n", 1)[1].split("\n## ", 1)[0]
    module = re.search(r"```python\n(.+?)\n```", section, re.S).group(1)
    commands = re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).splitlines()
    (tmp_path / "my_models.py").write_text(module + "\n")
    outputs = []
    for command in commands:
        args = shlex.split(command)
        assert args[0] == "zoo"
        args += ["--manual-dir", str(manual_dir)] if "train" in args else []
        done = zoo_cli(args[1:], cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    elbo_lines = [next(line for line in out.splitlines() if line.startswith("test ELBO"))
                  for out in outputs]
    assert elbo_lines[0] == elbo_lines[1]  # zoo eval, in a fresh process, found the model
    assert "the objective's own metrics on binarized_mnist: clamped " in outputs[1]
    folder = tmp_path / "runs" / "free_nats_vae-binarized_mnist"
    saved = json.loads((folder / "model.json").read_text())
    assert saved["module"] == "my_models"
    assert saved["overrides"] == {"activation": "relu"}  # a plain Literal annotation, parsed
    history = json.loads((folder / "metrics.json").read_text())["history"]
    for name in ("clamped", "val_clamped"):  # the objective's own metric, every epoch
        assert len(history[name]) == 2 and all(0 <= value <= 1 for value in history[name])
    assert 0 < history["clamped"][0] < 1


PLUGIN = '''
import zoo
from zoo.models.registry import PositiveInt

@zoo.register("plugin_demo_vae")
def plugin_demo_vae(latent_dim: PositiveInt = 2):
    """A plugin package's model."""
    return zoo.get("mlp_vae", latent_dim=latent_dim, hidden_units=(16,))
'''

EXTRA = '''
import zoo
from zoo.models.registry import PositiveInt

@zoo.register("extra_vae")
def extra_vae(latent_dim: PositiveInt = 3):
    """A ZOO_PLUGINS module's model."""
    return zoo.get("iwae", latent_dim=latent_dim, hidden_units=(16,), k=2)
'''

SAVE = '''
import sys, tf_keras, zoo, zoo.cli
out = sys.argv[1]
zoo.cli.main(["list"])  # as `zoo list` prints it
zoo.get("extra_vae", latent_dim=4).save(f"{out}/extra.keras")
zoo.save(zoo.get("extra_vae"), f"{out}/extra_run")
zoo.save(zoo.get("plugin_demo_vae"), f"{out}/plugin_run")
'''

RELOAD = '''
import sys, tf_keras, zoo
out = sys.argv[1]
assert "extra_vae" not in zoo.list()  # nothing imported it yet
model = tf_keras.models.load_model(f"{out}/extra.keras")
assert model.zoo_config["name"] == "extra_vae" and model.latent_dim == 4
assert zoo.load(f"{out}/extra_run").metrics_names[-1] == "effective_sample_size"
try:
    zoo.load(f"{out}/plugin_run")
except zoo.ZooError as error:
    print(error)
'''


def test_a_plugin_package_installed_from_a_folder_reaches_the_cli_and_its_models_reload(
        tmp_path):
    package = tmp_path / "package"
    (package / "zoo_plugin_demo").mkdir(parents=True)
    (package / "zoo_plugin_demo" / "__init__.py").write_text("")
    (package / "zoo_plugin_demo" / "models.py").write_text(PLUGIN)
    (package / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "zoo-plugin-demo"
        version = "0.1"
        [project.entry-points."zoo.models"]
        demo = "zoo_plugin_demo.models"
        [tool.setuptools]
        packages = ["zoo_plugin_demo"]
        '''))
    site, modules = tmp_path / "site", tmp_path / "modules"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(package)],
        capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    modules.mkdir()
    (modules / "extra_models.py").write_text(EXTRA)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(modules)]),
           "ZOO_PLUGINS": "extra_models"}

    saved = subprocess.run([sys.executable, "-c", SAVE, str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert saved.returncode == 0, saved.stderr[-3000:]
    assert "plugin_demo_vae A plugin package's model." in saved.stdout
    assert re.search(r"^extra_vae +A ZOO_PLUGINS module's model\.$", saved.stdout, re.M)
    # A fresh process without the entry point or ZOO_PLUGINS: the saved files name the module
    alone = {**os.environ, "PYTHONPATH": str(modules)}
    alone.pop("ZOO_PLUGINS", None)
    reloaded = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path)], env=alone,
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert reloaded.returncode == 0, reloaded.stderr[-3000:]
    assert reloaded.stdout.strip() == (
        "unknown model 'plugin_demo_vae': cannot import the plugin module "
        "'zoo_plugin_demo.models' (it registered the model 'plugin_demo_vae'): no module "
        "named 'zoo_plugin_demo' here; check that it is installed or on PYTHONPATH")


def test_a_module_that_cannot_be_imported_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli.main(["--import", "no_such_models_module", "list"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "zoo: error: cannot import the plugin module 'no_such_models_module' (--import): no "
        "module named 'no_such_models_module' here; check that it is installed or on "
        "PYTHONPATH\n")
    (tmp_path / "raising_models_module.py").write_text(
        "import zoo\nraise ValueError('latent_dim needs a default')\n")
    with pytest.raises(SystemExit):  # found, and raised: not a matter of PYTHONPATH
        cli.main(["--import", "raising_models_module", "list"])
    assert capsys.readouterr().err == (
        "zoo: error: the plugin module 'raising_models_module' (--import) was found but "
        "raised ValueError when imported: latent_dim needs a default; fix the module\n")
