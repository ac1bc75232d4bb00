"""A fit's scores depend on its inputs, seed and suite settings alone (issue 16), not on two things
that differed between an uninterrupted run and its resumes or its ``--workers 2`` twin:

- the strides NumPy gave a size-1 axis. A freshly built grey-image split (``images[:, None]`` indexed by rows) has channel stride 1; the same
split read back from the cache has the standard H*W. Torch read the first as channels-last and ran
another oneDNN convolution on it, so a run that built its splits and a resumed run that read them
from the cache scored differently in the last digits (``ece`` in all 12 digits-lt rows);
- the process's torch thread count. CPU kernels split their sums by thread (1 and 2 threads differ
  in the 7th digit), and ``--workers 2`` used to give each worker half the cores: a fit now runs on
  its suite's ``cpu_threads`` whatever the process was set to.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import DataPart, Split, standard_layout
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig, model_input, standard_strides
from benchmark.training.deep import DeepEngine


def odd_strides(images: np.ndarray) -> np.ndarray:
    """The same (N, 1, H, W) values laid out as a fresh split builder lays them out: channel stride 1."""
    odd = np.ascontiguousarray(images[:, 0])[:, None][np.arange(len(images))]
    assert odd.strides[1] == odd.itemsize and np.array_equal(odd, images) and odd.flags.c_contiguous
    return odd


def test_standard_strides_count_size_one_axes():
    assert standard_strides((3, 1, 8, 8)) == (64, 64, 8, 1)
    assert standard_strides((5,)) == (1,)


def test_model_inputs_and_split_parts_get_the_standard_layout():
    images = make_image_split().test.X
    odd = odd_strides(images)
    assert torch.as_tensor(odd).stride() != standard_strides(images.shape)  # what torch saw before
    tensor = model_input(odd, "cpu")
    assert tensor.stride() == standard_strides(images.shape) and torch.equal(tensor, torch.as_tensor(images))
    assert standard_layout(odd).strides == images.strides
    assert standard_layout(images) is images  # nothing copied when the layout is already standard
    assert standard_layout(np.array(["a", "b"])).shape == (2,)


def test_a_split_scores_bit_identically_whatever_the_strides_of_its_images():
    split = make_image_split(n_unlabeled=None)
    config = TrainingConfig(epochs=2, batch_size=16, lr=3e-3)
    recipe = method_registry.get("baseline").build({}, MethodContext.from_split(split, "deep", config.epochs, 0))
    model = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    standard = model.predict_proba(split.test.X)
    odd = model.predict_proba(odd_strides(split.test.X))
    assert np.array_equal(standard, odd)  # bit for bit, not approximately
    # and a split built with odd strides trains to the same weights and scores as the standard one
    rebuilt = Split(split.dataset, split.modality, split.class_names,
                    *(DataPart(odd_strides(p.X), p.y) for p in (split.train, split.val, split.test)))
    again = DeepEngine().fit(rebuilt, recipe, config, seed=0, device="cpu")
    assert np.array_equal(again.predict_proba(rebuilt.test.X), standard)


def test_a_freshly_built_split_is_laid_out_as_the_cache_gives_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))  # empty: the first load builds the split
    digits = dataset_registry.get("digits-lt")  # scikit-learn's bundled digits: no data files needed
    built = digits.load(tmp_path, 0)
    cached = digits.load(tmp_path, 0)
    assert len(list((tmp_path / "cache").glob("digits-lt-*.npz"))) == 1
    for part in ("train", "val", "test"):
        fresh, again = built.part(part).X, cached.part(part).X
        assert fresh.strides == again.strides == tuple(fresh.itemsize * s for s in standard_strides(fresh.shape))
        assert np.array_equal(fresh, again)
    assert built.unlabeled is None or built.unlabeled.strides == cached.unlabeled.strides


@pytest.mark.parametrize("shape", [(4, 1, 8, 8), (6, 3), (0, 1, 2, 2)])
def test_standard_layout_keeps_values_and_dtype(shape):
    array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    out = standard_layout(array[::1])
    assert out.dtype == array.dtype and np.array_equal(out, array)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def fit_digest(split, config, threads: int) -> tuple[bytes, int]:
    torch.set_num_threads(threads)  # what the process was set to before the fit (--workers used to set it)
    recipe = method_registry.get("baseline").build({}, MethodContext.from_split(split, "deep", config.epochs, 0))
    model = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    return model.predict_proba(split.test.X).tobytes(), torch.get_num_threads()


def test_a_fit_runs_on_its_suites_thread_count_whatever_the_process_was_set_to(restore_threads):
    split = make_image_split(n_per_class=(120, 60, 24), n_unlabeled=None)
    config = TrainingConfig(epochs=2, batch_size=64, lr=3e-3)
    one, threads_one = fit_digest(split, config, threads=1)
    two, threads_two = fit_digest(split, config, threads=2)
    assert threads_one == threads_two == config.cpu_threads == 1
    assert one == two
    other, threads = fit_digest(split, TrainingConfig(epochs=2, batch_size=64, lr=3e-3, cpu_threads=2), threads=1)
    assert threads == 2


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_an_invalid_thread_count_is_refused_with_its_value(value):
    with pytest.raises(BenchmarkError, match="cpu_threads"):
        TrainingConfig(cpu_threads=value)
