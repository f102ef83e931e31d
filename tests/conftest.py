import gc
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _collect_qt_garbage_in_the_main_thread(request: pytest.FixtureRequest):
    # Qt objects a GUI test leaves in reference cycles must be collected here, in the GUI
    # thread, not later by whichever worker thread of another test happens to allocate.
    yield
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        gc.collect()
