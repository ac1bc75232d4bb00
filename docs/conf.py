"""Sphinx configuration of the documentation site (pydata-sphinx-theme, pages in Markdown via MyST).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (CI does, warnings as errors).
Before reading the sources, the catalogue (a page per registered method and dataset), the command-line
reference and the suite-file keys are generated from the code into ``docs/_generated/``
(``docs/_ext/catalogue.py``, ``docs/_ext/reference.py``), so the site always describes the code it ships with.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # recording search spaces never reaches a model hub

import benchmark  # noqa: E402

project = "imbalance-benchmark"
author = "imbalance-benchmark contributors"
copyright = "imbalance-benchmark contributors (MIT licence)"
release = version = benchmark.__version__  # the one place the version is kept

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
exclude_patterns = ["_build", "README.md", "_generated/suite-file-keys.md"]  # included by suite-files.md
html_theme = "pydata_sphinx_theme"
html_title = f"imbalance-benchmark {release}"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2, "secondary_sidebar_items": ["page-toc"]}
html_sidebars = {"_generated/methods/*": [], "_generated/datasets/*": []}  # ~270 pages: no long left bar


def generate(app) -> None:
    """Write the generated pages before Sphinx reads the sources."""
    from catalogue import write_catalogue
    from reference import write_reference

    out = HERE / "_generated"
    write_catalogue(out)
    write_reference(out)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
