"""imbalanced-learn's benchmark collection: 27 binary datasets (Ding 2011), one entry each.

Names are ``imblearn-<name>`` with imbalanced-learn's names (``imblearn-ecoli``,
``imblearn-protein_homo``, ...). The data comes through ``imblearn.datasets.fetch_datasets``, which
keeps the collection as ``<data home>/zenodo/x<ID>data.npz``; the data home here is
``<data root>/imbalanced-learn``. When a file is absent and downloads can work, imbalanced-learn
downloads the collection's archive from Zenodo (all 27 files at once). The minority class (target 1
in imbalanced-learn) is class 1; features are numeric (nominal ones arrive one-hot encoded).
"""

from __future__ import annotations

import zipfile

import numpy as np

from benchmark.datasets.base import LoadRequest, Split, register_dataset
from benchmark.datasets.card import count_stats
from benchmark.datasets.download import require_download
from benchmark.datasets.split import holdout_split
from benchmark.errors import BenchmarkError, DataUnavailableError

ZENODO_URL = "https://zenodo.org/record/61452/files/benchmark-imbalanced-learn.tar.gz"
DATA_HOME = "imbalanced-learn"
IMBLEARN_BIB = """@phdthesis{ding2011diversified,
  title={Diversified Ensemble Classifiers for Highly Imbalanced Data Learning and their Application in Bioinformatics},
  author={Ding, Zejin}, school={Georgia State University}, year={2011}}
@article{lemaitre2017imbalanced,
  title={Imbalanced-learn: A Python Toolbox to Tackle the Curse of Imbalanced Datasets in Machine Learning},
  author={Lema{\\^\\i}tre, Guillaume and Nogueira, Fernando and Aridas, Christos K.},
  journal={Journal of Machine Learning Research}, volume={18}, number={17}, pages={1--5}, year={2017}}"""

# name -> (ID, origin and minority target, imbalance ratio, samples, features), from imbalanced-learn's docs
COLLECTION: dict[str, tuple[int, str, float, int, int]] = {
    "ecoli": (1, "UCI ecoli, minority imU", 8.6, 336, 7),
    "optical_digits": (2, "UCI optical digits, minority 8", 9.1, 5620, 64),
    "satimage": (3, "UCI satimage, minority 4", 9.3, 6435, 36),
    "pen_digits": (4, "UCI pen digits, minority 5", 9.4, 10992, 16),
    "abalone": (5, "UCI abalone, minority 7", 9.7, 4177, 10),
    "sick_euthyroid": (6, "UCI thyroid, minority sick euthyroid", 9.8, 3163, 42),
    "spectrometer": (7, "UCI spectrometer, minority >= 44", 11, 531, 93),
    "car_eval_34": (8, "UCI car evaluation, minority good and v good", 12, 1728, 21),
    "isolet": (9, "UCI isolet, minority A and B", 12, 7797, 617),
    "us_crime": (10, "UCI communities and crime, minority > 0.65", 12, 1994, 100),
    "yeast_ml8": (11, "LIBSVM yeast, minority label 8", 13, 2417, 103),
    "scene": (12, "LIBSVM scene, minority more than one label", 13, 2407, 294),
    "libras_move": (13, "UCI libras movement, minority 1", 14, 360, 90),
    "thyroid_sick": (14, "UCI thyroid, minority sick", 15, 3772, 52),
    "coil_2000": (15, "KDD CoIL 2000, minority class", 16, 9822, 85),
    "arrhythmia": (16, "UCI arrhythmia, minority 06", 17, 452, 278),
    "solar_flare_m0": (17, "UCI solar flare, minority M->0", 19, 1389, 32),
    "oil": (18, "UCI oil spill, minority class", 22, 937, 49),
    "car_eval_4": (19, "UCI car evaluation, minority vgood", 26, 1728, 21),
    "wine_quality": (20, "UCI wine quality (white), minority <= 4", 26, 4898, 11),
    "letter_img": (21, "UCI letter recognition, minority Z", 26, 20000, 16),
    "yeast_me2": (22, "UCI yeast, minority ME2", 28, 1484, 8),
    "webpage": (23, "LIBSVM w7a, minority class", 33, 34780, 300),
    "ozone_level": (24, "UCI ozone level, minority ozone days", 34, 2536, 72),
    "mammography": (25, "UCI mammography, minority class", 42, 11183, 6),
    "protein_homo": (26, "KDD Cup 2004 protein homology, minority class", 111, 145751, 74),
    "abalone_19": (27, "UCI abalone, minority 19", 130, 4177, 10),
}


def collection_file(name: str) -> str:
    """The file (under the data root) that imbalanced-learn reads for dataset ``name``."""
    return f"{DATA_HOME}/zenodo/x{COLLECTION[name][0]}data.npz"


def load_imblearn(request: LoadRequest) -> Split:
    """Fetch one dataset of the collection (from the data root, else Zenodo) and split it."""
    from imblearn.datasets import fetch_datasets

    name = request.params["name"]
    relative = collection_file(name)
    path = request.data_root / relative
    present = path.is_file()
    if not present:
        require_download(request.name, request.data_root, [relative], ZENODO_URL)
    try:
        bunch = fetch_datasets(data_home=str(request.data_root / DATA_HOME), filter_data=(name,),
                               download_if_missing=not present)[name]
    except OSError as exc:
        if not present:  # no network, refused connection, HTTP error
            raise DataUnavailableError(request.name, [relative], ZENODO_URL, f"the download failed: {exc}") from exc
        raise BenchmarkError(f"{path} cannot be read ({exc})", "check its permissions, or delete it") from exc
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a damaged or foreign .npz
        raise BenchmarkError(f"{path} cannot be read as imbalanced-learn's data ({type(exc).__name__}: {exc})",
                             f"delete it so that it is downloaded again, or fetch {ZENODO_URL}") from exc
    X = np.asarray(bunch.data, dtype=np.float32)
    target = np.asarray(bunch.target)
    if X.ndim != 2 or len(X) != len(target) or not set(np.unique(target)) <= {-1, 1}:
        raise BenchmarkError(f"{path} holds data of shape {X.shape} with targets {np.unique(target)[:5]}; "
                             "expected a 2-d table and targets -1/1",
                             f"delete it so that it is downloaded again, or fetch {ZENODO_URL}")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=0))
    if bad.size:
        raise BenchmarkError(f"{path} holds non-finite values (inf or NaN) in column {int(bad[0])}"
                             f"{f' and {bad.size - 1} more' if bad.size > 1 else ''}",
                             f"delete it so that it is downloaded again, or fetch {ZENODO_URL}")
    y = (target == 1).astype(np.int64)
    return holdout_split(request.name, "tabular", request, X, y, ["majority", "minority"],
                         info={"imblearn_name": name, "imblearn_id": COLLECTION[name][0]},
                         feature_kinds=["numeric"] * X.shape[1])


def imblearn_counts(ratio: float, samples: int) -> list[int]:
    """Approximate [majority, minority] counts from the published ratio (the docs round it)."""
    minority = round(samples / (ratio + 1))
    return [samples - minority, minority]


for _name, (_id, _origin, _ratio, _samples, _features) in COLLECTION.items():
    register_dataset(
        f"imblearn-{_name}",
        modality="tabular",
        num_classes=2,
        class_names=("majority", "minority"),
        source=ZENODO_URL,
        description=(f"imbalanced-learn benchmark collection #{_id}, {_name} ({_origin}): {_samples:,} rows, "
                     f"{_features} features, imbalance ratio about {_ratio}:1; fetched with "
                     "imblearn.datasets.fetch_datasets; stratified 30% test, 25% of the rest for validation."),
        license="as the original sources (UCI, LIBSVM, KDD); redistributed by imbalanced-learn on Zenodo",
        citation=IMBLEARN_BIB,
        params={"name": _name, "test_fraction": 0.3, "val_fraction": 0.25},
        files=(collection_file(_name),),
        default_model={"deep": "mlp", "classical": "logreg"},
        tags=("imblearn", f"ir={_ratio}"),
        stats={**count_stats(imblearn_counts(_ratio, _samples), features=_features), "imbalance_ratio": _ratio,
               "counts_are": "approximate: derived from the published ratio"},
    )(load_imblearn)
