import os
import shutil
from pathlib import Path

import pytest

from picd_core.data import generate_screen, natural_images_dir

REPO = Path(__file__).resolve().parents[1]
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None and not os.environ.get("CI"),
    reason="Tesseract is not installed (CI installs it; locally: apt-get install tesseract-ocr)",
)


@pytest.fixture(scope="session")
def photo_dir():
    return natural_images_dir()


@pytest.fixture(scope="session")
def screen(photo_dir):
    return generate_screen(11, 800, 600, kind="ui", photo_dir=photo_dir)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PICD_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: set PICD_RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
