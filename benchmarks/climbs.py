"""How often a run's configuration goes back into a module it had left: followed through
``zoo.train`` and through the bench run of a recipe (issue #47's measure of a run resolved
once).

Every call from one zoo module into another is recorded (Python's profiler hook) where
the callee receives the configuration: the RunConfig, the run resolved once (a Plan), the
recipe, or the model's or the dataset's name or the recipe's path (a lookup by name). A
Builder or a DatasetSpec handed on is a value already looked up, and making a RunConfig
(its ``__init__``) is not a lookup: neither is counted. The visits
are the modules those calls enter, in order; a climb is a call into a module already
entered and left before. A run resolved once is handed down: the stages read its fields
and enter the modules that resolve it once each.

    python benchmarks/climbs.py --manual-dir ../shared/datasets [--out FILE]

A small run (mlp_vae, 2 epochs of 256 images, cosine schedule): the counts do not depend
on the sizes, only on the code's paths.
"""

import argparse
import inspect
import pathlib
import sys
import tempfile

from zoo import files, provenance

SETTINGS = {"model": "mlp_vae", "dataset": "binarized_mnist", "epochs": 2,
            "train_examples": 256, "eval_examples": 256, "learning_rate_schedule": "cosine"}


def _carriers():
    """The types that are the configuration: the RunConfig, the recipe and (after the
    redesign) the Plan. A Builder or a DatasetSpec is a value already looked up: using it
    is not a lookup."""
    import zoo.config
    import zoo.recipes

    return tuple(getattr(module, name) for module in (zoo.config, zoo.recipes)
                 for name in ("RunConfig", "Plan", "Recipe") if hasattr(module, name))


def follow(function, strings):
    """Runs ``function()`` and returns the zoo modules the configuration enters, in order
    (a list of ``(caller, callee, function)``)."""
    carriers, calls = _carriers(), []

    def carries(value):
        return isinstance(value, carriers) or (
            isinstance(value, (str, pathlib.PurePath)) and str(value) in strings)

    def profile(frame, event, arg):
        if event != "call":
            return
        callee, caller = frame.f_globals.get("__name__", ""), frame.f_back
        caller_module = caller.f_globals.get("__name__", "") if caller else ""
        code = frame.f_code
        if not (callee.startswith("zoo") and caller_module.startswith("zoo")
                and callee != caller_module) or code.co_name == "__init__":
            return
        count = code.co_argcount + code.co_kwonlyargcount
        arguments = [frame.f_locals.get(name) for name in code.co_varnames[:count]]
        if code.co_flags & inspect.CO_VARKEYWORDS:
            arguments += list(frame.f_locals.get(code.co_varnames[count + bool(
                code.co_flags & inspect.CO_VARARGS)], {}).values())
        if any(carries(value) for value in arguments):
            calls.append((caller_module, callee, code.co_name))

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


def counted(calls, root):
    """``{"modules", "climbs", "visits"}``: the modules entered (``root`` first), the
    calls into a module entered and left before, and every visit."""
    seen, climbs = [root], []
    for caller, callee, name in calls:
        if callee in seen:
            climbs.append(f"{caller} -> {callee}.{name}")
        else:
            seen.append(callee)
    return {"modules": len(seen), "module_names": seen, "climbs": len(climbs),
            "climb_calls": climbs, "visits": [f"{a} -> {b}.{n}" for a, b, n in calls]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manual-dir")
    parser.add_argument("--out", default="benchmarks/results/climbs.json")
    args = parser.parse_args(argv)
    import zoo
    from zoo import bench, recipes

    strings = {SETTINGS["model"], SETTINGS["dataset"]}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        train_calls = follow(lambda: zoo.train(zoo.RunConfig(**SETTINGS), scratch / "run",
                                               manual_dir=args.manual_dir, verbose=0), strings)
        recipe = scratch / "climbs.toml"
        recipes.write(recipes.from_dict("climbs", SETTINGS), recipe)
        strings.add(str(recipe))
        bench_calls = follow(lambda: bench.run(recipe, scratch / "benchmarks",
                                               manual_dir=args.manual_dir, verbose=0), strings)
    result = {"command": " ".join(["python", "benchmarks/climbs.py", *(argv or sys.argv[1:])]),
              "settings": SETTINGS,
              "train": counted(train_calls, "zoo.train"),
              "bench_run": counted(bench_calls, "zoo.bench"),
              "environment": provenance.environment()}
    files.write_json(args.out, result)
    for what in ("train", "bench_run"):
        print(f"{what}: {result[what]['modules']} modules, {result[what]['climbs']} climbs")
    return result


if __name__ == "__main__":
    main()
