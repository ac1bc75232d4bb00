"""The dataset registry: one module per source or family of sources (``vision``: the long-tail image sets,
``text``: SMS Spam, ``keel``: the KEEL collection, ``imblearn_collection``, ``synthetic``), ``files`` for
datasets read from the user's own files; ``base`` (the entry type, the data root, the split cache),
``split`` (the split and its hold-out rule) and ``card`` (what a card knows without data). Behind them:
``_keel_format`` and ``_file_readers`` (file formats), ``torchvision_files`` (the MNIST and CIFAR files),
``download``, ``packaged`` (copies shipped in the package) and ``unlabeled`` (the unlabeled pool).

Register a dataset with::

    @register_dataset("my-data", modality="tabular", num_classes=2, source="...", description="...")
    def build(request: LoadRequest) -> Split: ...
"""

from benchmark.datasets.base import (
    CardStats,
    DataPart,
    Dataset,
    LoadRequest,
    Split,
    dataset_registry,
    register_dataset,
    resolve_data_root,
)
from benchmark.datasets.card import SplitSizes

__all__ = ["CardStats", "DataPart", "Dataset", "LoadRequest", "Split", "SplitSizes", "dataset_registry",
           "register_dataset", "resolve_data_root"]
