"""Run by test_damage.py inside a mount namespace of its own (``unshare --mount``), with a
small tmpfs mounted at FOLDER's parent: ``python disk_full_check.py FOLDER ZOO-TRAIN-ARGS``
starts ``zoo train ARGS --out FOLDER``, fills the file system once epoch 2 begins (epoch
1's files written), so that epoch 2's records find no space; then frees the space and runs
the same command again. Prints one JSON line: each command's exit status and output, and
the finished run's metrics.json."""

import json
import pathlib
import subprocess
import sys

from processes import zoo_train


def fill(folder):
    """Writes FOLDER/../filler until the file system is full; returns its path."""
    filler = folder.parent / "filler"
    with open(filler, "wb") as file:
        try:
            while True:
                file.write(b"\0" * (1 << 16))
                file.flush()
        except OSError:
            pass
    return filler


def main(folder, args):
    folder = pathlib.Path(folder)
    first = zoo_train(*args, "--out", folder)
    out, filler = [], None
    for line in first.stdout:
        out.append(line)
        if line.startswith("Epoch 2/"):
            filler = fill(folder)
            break
    rest, err = first.communicate(timeout=600)
    if filler is not None:
        filler.unlink()
    second = subprocess.run([sys.executable, "-m", "zoo.cli", "train", *args, "--out",
                             str(folder)], capture_output=True, text=True, timeout=600)
    print(json.dumps({"full": {"code": first.returncode, "out": "".join(out) + rest,
                               "err": err},
                      "freed": {"code": second.returncode, "out": second.stdout,
                                "err": second.stderr},
                      "metrics": json.loads((folder / "metrics.json").read_text())
                      if (folder / "metrics.json").is_file() else None}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
