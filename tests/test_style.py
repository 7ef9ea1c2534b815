"""The code keeps to setup.cfg's flake8 settings (line length 100, PEP 8), and no module
of zoo/ imports one that imports it back."""

import ast
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_flake8_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "flake8", "zoo", "tests", "benchmarks"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not done.stdout, done.stdout[-3000:] + done.stderr[-1000:]


def imports_of_zoo():
    """``{module: the zoo modules it imports}`` for every module of zoo/, read from the
    source (imports at the top and inside functions; ``from pkg import sub`` imports
    ``pkg.sub``)."""
    files = {".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"):
             path for path in (REPO / "zoo").rglob("*.py")}
    edges = {}
    for module, path in files.items():
        edges[module] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges[module].update(alias.name for alias in node.names if alias.name in files)
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = {f"{node.module}.{alias.name}" for alias in node.names} & set(files)
                edges[module].update(subs)
                if node.module in files and len(subs) < len(node.names):
                    edges[module].add(node.module)
        edges[module].discard(module)
    return edges


def circles(edges):
    """The sets of two or more modules that import each other, directly or round a circle."""
    reach = {module: set() for module in edges}
    for module in edges:  # every module reachable from each: a search from each
        frontier = list(edges[module])
        while frontier:
            other = frontier.pop()
            if other not in reach[module]:
                reach[module].add(other)
                frontier.extend(edges[other])
    found = {frozenset({m} | {o for o in reach[m] if m in reach[o]}) for m in edges
             if m in reach[m]}
    return sorted(sorted(circle) for circle in found)


def test_no_module_of_the_zoo_imports_one_that_imports_it_back():
    edges = imports_of_zoo()
    assert {"zoo.train", "zoo.config", "zoo.models.registry"} <= set(edges)
    assert "zoo.config" in edges["zoo.train"]  # the reading sees imports
    assert circles(edges) == []
    assert circles({**edges, "zoo.config": edges["zoo.config"] | {"zoo.train"}}) == [
        ["zoo.config", "zoo.train"]]  # one added import back is a circle found
