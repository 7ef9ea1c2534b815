"""README's install and test commands are the ones CI runs."""

import pathlib
import re

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
