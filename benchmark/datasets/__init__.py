"""The dataset registry: one module per modality (``vision``, ``text``, ``tabular``).

Register a dataset with::

    @register_dataset("my-data", modality="tabular", num_classes=2, source="...", description="...")
    def build(request: LoadRequest) -> Split: ...
"""

from benchmark.datasets.base import (
    DataPart,
    Dataset,
    LoadRequest,
    Split,
    dataset_registry,
    register_dataset,
    resolve_data_root,
)

__all__ = ["DataPart", "Dataset", "LoadRequest", "Split", "dataset_registry", "register_dataset", "resolve_data_root"]
