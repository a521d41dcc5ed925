"""The examples in the docstrings of the structural and recurrent layer modules run and
give what they show (the default suite does not collect doctests, so they run here)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fitorch.layers.structure",
    "fitorch.layers.recurrent",
    "fitorch.layers.recurrent_cells",
    "fitorch.layers.rnn",
    "fitorch.layers.wrappers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
