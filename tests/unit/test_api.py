"""The public plugin API: every name it lists exists, and ``crashcompat.api.kernel`` offers exactly the
public names of the kernel model's modules (the very objects, so ``isinstance`` and identity hold)."""

from __future__ import annotations

import importlib

import pytest

import crashcompat.api
import crashcompat.api.kernel


def test_every_listed_name_exists() -> None:
    missing = [name for name in crashcompat.api.__all__ if not hasattr(crashcompat.api, name)]
    assert not missing
    assert crashcompat.api.kernel.__name__ == "crashcompat.api.kernel"


@pytest.mark.parametrize("name", crashcompat.api.kernel.__all__)
def test_kernel_helpers_are_the_models_public_names(name: str) -> None:
    helper = importlib.import_module(f"crashcompat.api.kernel.{name}")
    model = importlib.import_module(f"crashcompat.core.kernel.{name}")
    assert helper.__all__ == model.__all__
    for attr in model.__all__:
        assert getattr(helper, attr) is getattr(model, attr), attr
    private = [a for a in vars(helper) if a.startswith("_") and not a.startswith("__")]
    assert not private


def test_the_hookimpl_marker_is_crashcompats() -> None:
    from crashcompat import hookimpl

    assert crashcompat.api.hookimpl is hookimpl
