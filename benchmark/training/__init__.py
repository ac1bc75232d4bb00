"""Training engines: ``deep`` (torch, data resident on the device) and ``classical`` (scikit-learn)."""

from benchmark.training.base import TrainingConfig, resolve_device


def get_engine(name: str):
    """The engine object for ``name`` ("deep" or "classical")."""
    from benchmark.errors import UnknownNameError

    if name == "deep":
        from benchmark.training.deep import DeepEngine

        return DeepEngine()
    if name == "classical":
        from benchmark.training.classical import ClassicalEngine

        return ClassicalEngine()
    raise UnknownNameError(f"unknown engine '{name}': known engines: classical, deep")


__all__ = ["TrainingConfig", "get_engine", "resolve_device"]
