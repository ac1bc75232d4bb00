"""Published results: a finished suite as a versioned, self-contained bundle of plain files, read back like
a store, and re-checked.

- :mod:`~benchmark.publish.writer`: ``python -m benchmark publish`` (the bundle's layout is its docstring);
- :mod:`~benchmark.publish.reader`: a bundle (or several, side by side) as a temporary store, for ``report``
  and ``results``;
- :mod:`~benchmark.publish.verify`: ``python -m benchmark verify``: integrity, rescoring, re-run cells;
- :mod:`~benchmark.publish.files`: the manifest, JSON and deterministic ``.npz`` files;
- :mod:`~benchmark.publish.environment`: suite definition and digest, the lock, hardware, data files;
- :mod:`~benchmark.publish.trials`: tuning trials as JSON and back;
- :mod:`~benchmark.publish.citation`: the bundle's ``CITATION.cff`` and BibTeX entry.
"""

from benchmark.publish.files import is_bundle
from benchmark.publish.reader import bundle_paths, open_bundles
from benchmark.publish.verify import Verification, verify_bundle
from benchmark.publish.writer import Published, publish_bundle

__all__ = ["Published", "Verification", "bundle_paths", "is_bundle", "open_bundles", "publish_bundle", "verify_bundle"]
