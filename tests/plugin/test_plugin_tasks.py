"""Task and engine-process plumbing: cancel, errors as one sentence, one engine process per settings.

These tests are about the plumbing, not the model: the engine here is a small slow stand-in
(tests/plugin/slow_engine.py), as the brief allows for cancel/exception tests.
"""

from __future__ import annotations

import os
import time

import pytest
from plugin_helpers import run_task, start_task
from qgis.core import QgsApplication, QgsTask

from core.config import EngineConfig
from core.errors import Cancelled, InputError
from plugin.engine_client import EngineFailure
from plugin.tasks import EngineTask, error_sentence

pytestmark = pytest.mark.qgis
CONFIG = EngineConfig(model="tiny", device="cpu")


def test_cancel_stops_within_one_tile(qtbot, holder) -> None:
    task = EngineTask("slow", "tiles", {"n": 200, "seconds": 0.05}, CONFIG, holder)
    seen: list[float] = []
    task.progressChanged.connect(seen.append)
    outcome: dict = {}
    task.wasCancelled.connect(lambda: outcome.setdefault("cancelled", time.perf_counter()))
    task.resultReady.connect(lambda r: outcome.setdefault("result", r))
    QgsApplication.taskManager().addTask(task)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] >= 5, timeout=30000)
    pid = holder.worker_pid
    t0 = time.perf_counter()
    task.cancel()
    qtbot.waitUntil(lambda: bool(outcome), timeout=5000)
    assert "cancelled" in outcome and "result" not in outcome
    assert outcome["cancelled"] - t0 < 1.0  # one tile is 0.05 s; allow for a busy machine
    assert max(seen) < 100
    assert holder.worker_pid == pid  # the engine process survives a cancel and is reused


def test_a_cancelled_task_ends_terminated_and_silent_not_failed(qtbot, holder) -> None:
    """QGIS 3.40 announces a terminated task that is not silent as "Task failed" (QgisApp::onTaskCompleteShowNotify):
    a cancel must end as QGIS's terminated status, on a silent task, and reach the panel as a cancel."""
    task = EngineTask("slow", "tiles", {"n": 200, "seconds": 0.05}, CONFIG, holder)
    assert task.flags() & QgsTask.Flag.Silent and task.flags() & QgsTask.Flag.CanCancel
    statuses: list = []
    task.statusChanged.connect(statuses.append)
    seen: list[float] = []
    task.progressChanged.connect(seen.append)
    outcome = start_task(task)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] >= 5, timeout=30000)
    task.cancel()
    qtbot.waitUntil(lambda: bool(outcome) and statuses and statuses[-1] in (QgsTask.TaskStatus.Complete,
                                                                            QgsTask.TaskStatus.Terminated),
                    timeout=5000)
    assert list(outcome) == ["cancelled"]  # no error sentence, no result
    assert statuses[-1] == QgsTask.TaskStatus.Terminated  # QGIS's own status for a cancelled task


def test_a_cancelled_turn_reads_cancelled_on_its_card(qtbot) -> None:
    from plugin.chat_dock import ChatDock
    from plugin.chat_widgets import CANCELLED_TEXT
    from plugin.conversation import CANCELLED, Conversation

    dock = ChatDock()
    qtbot.addWidget(dock)
    turn = Conversation().add("ask", "What is this?", "map view", "scene")
    dock.add_turn(turn)
    dock.append_text(turn.id, "A field with")
    turn.status = CANCELLED
    dock.show_result(turn, [])
    card = dock.turn_widgets[turn.id]
    assert CANCELLED_TEXT == "Cancelled." and card.answer.startswith("Cancelled.")
    assert "A field with" in card.answer and "fail" not in card.answer.lower()
    assert not card.segmentation_button.isEnabled() and not card.zoom_button.isEnabled()


def test_streamed_text_and_progress_arrive_on_the_main_thread(qtbot, holder) -> None:
    task = EngineTask("short", "tiles", {"n": 5, "seconds": 0.01}, CONFIG, holder)
    pieces: list[str] = []
    messages: list[str] = []
    task.textReceived.connect(pieces.append)
    task.messageChanged.connect(messages.append)
    assert run_task(qtbot, task) == {"result": "all tiles"}
    qtbot.waitUntil(lambda: len(pieces) == 5)
    assert "".join(pieces) == "0 1 2 3 4 " and messages[-1] == "tile 5/5"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("input", "The raster has no CRS."),
        ("runtime", "EarthAsk failed (RuntimeError): boom"),
        ("memory", "Out of memory: try a smaller area, a smaller tile size or the CPU device."),
        ("crash", "The engine process stopped unexpectedly (exit code 3); the next request starts a new one."),
        ("segfault", "The engine process crashed (SIGSEGV, a segmentation fault in a native library); the next "
                     "request starts a new one."),
    ],
)
def test_errors_become_one_sentence(qtbot, holder, kind: str, message: str) -> None:
    outcome = run_task(qtbot, EngineTask("fails", "fail", {"kind": kind}, CONFIG, holder))
    assert outcome == {"error": message}
    # and the next call works (a crashed engine process is replaced)
    assert "pid" in run_task(qtbot, EngineTask("next", "whoami", {}, CONFIG, holder))["result"]


def test_error_sentence_is_one_line() -> None:
    assert error_sentence(InputError("Pick a raster.")) == "Pick a raster."
    assert error_sentence(EngineFailure("ValueError", "bad\nworse")) == "EarthAsk failed (ValueError): bad"
    assert error_sentence(EngineFailure("ModuleNotFoundError", "No module named 'torch.nn'")).startswith(
        "The engine's Python cannot import 'torch'")
    assert "\n" not in error_sentence(RuntimeError("x" * 500)) and len(error_sentence(RuntimeError("x" * 500))) < 240


def test_engine_process_is_started_once_per_settings(holder) -> None:
    first = holder.call(CONFIG, "whoami", {})
    again = holder.call(CONFIG, "whoami", {})
    assert first == again and first["pid"] != os.getpid()  # reused, in its own process
    other = holder.call(EngineConfig(model="tiny", device="cpu", tile=256), "whoami", {})
    assert other["pid"] != first["pid"] and other["tile"] == 256  # new settings: new engine
    builds = holder.builds
    holder.call(EngineConfig(model="tiny", device="cpu", tile=256), "whoami", {})
    assert holder.builds == builds


def test_a_stubborn_call_is_stopped_by_force_after_the_grace_time(holder) -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 10  # cancel after about half a second

    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        holder.call(CONFIG, "stubborn", {"seconds": 60}, cancelled=cancelled)
    assert time.perf_counter() - t0 < 10
    assert holder.call(CONFIG, "whoami", {})["model"] == "tiny"  # a fresh process took over
