"""README's install and test commands are the ones CI runs, and its Python blocks run."""

import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def first_command_under(heading, readme):
    section = readme.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_install_and_test_commands():
    readme = (REPO / "README.md").read_text()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    install, test = first_command_under("Install", readme), first_command_under("Tests", readme)
    assert install == 'pip install -e ".[test]"' and test == "python -m pytest"
    assert ci_lines.index(install) < ci_lines.index(test)


# README's Python blocks run as one script, in order, in a fresh process and folder; the
# objective example, a module of its own, is run by test_plugins.py with its commands.
OWN_MODULE = "### Your own objective, from your own module\n"
# The data are README's, the first batch of each split (the only change to what it runs;
# zoo.train's endless training stream as it is: its own data are a folder of 120 images),
# and two sizes: Hyperband's largest budget, the disentanglement metrics' points.
PRELUDE = '''
import zoo.data

_load = zoo.data.load
zoo.data.load = lambda *args, **kwargs: (_load(*args, **kwargs) if kwargs.get("repeat")
                                         else _load(*args, **kwargs).take(1))
'''
SIZES = {"max_epochs=9": "max_epochs=2", "points=2000": "points=300"}


def readme_python():
    readme = (REPO / "README.md").read_text()
    before, after = readme.split(OWN_MODULE, 1)
    after = after.split("\n## ", 1)[1]
    blocks = [block for part in (before, after)
              for block in re.findall(r"```python\n(.+?)\n```", part, re.S)]
    script = "\n\n".join(blocks)
    for written, smaller in SIZES.items():
        assert script.count(written) == 1, written
        script = script.replace(written, smaller)
    return PRELUDE + script


def test_every_python_block_of_the_readme_runs(manual_dir, tmp_path):
    script = tmp_path / "readme.py"
    script.write_text(readme_python())
    env = {**os.environ, "ZOO_MANUAL_DIR": str(manual_dir)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    for written in ("vae.keras", "served/saved_model.pb", "my_run/model.json",
                    "runs/my_images/metrics.json"):
        assert (tmp_path / written).is_file(), written
    printed = re.search(r"^(\S+) (\S+) (\S+)$", done.stdout, re.M)  # the quickstart's print
    elbo, reconstruction, kl = map(float, printed.groups())
    assert elbo < 0 < kl < reconstruction  # nats per image of a briefly trained model
