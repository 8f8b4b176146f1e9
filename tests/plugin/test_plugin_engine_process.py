"""The engine process under stress: killed mid-task (OOM killer, crash), and requests arriving together.

The engine is the small stand-in of tests/plugin/slow_engine.py: these tests are about the process plumbing.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Optional

import pytest
from plugin_helpers import ask, run_task, show_layer, start_task, wait_for_task

from core.config import EngineConfig
from plugin.conversation import DONE, FAILED
from plugin.engine_client import EngineDied
from plugin.engine_exit import exit_sentence
from plugin.tasks import EngineTask, error_sentence

pytestmark = pytest.mark.qgis
CONFIG = EngineConfig(model="tiny", device="cpu")
KILLED = ("The engine process was killed (SIGKILL, often the system running out of memory); "
          "the next request starts a new one.")
TERMINATED = ("The engine process was stopped (SIGTERM, sent by another program or the system); "
              "the next request starts a new one.")


@pytest.mark.parametrize(
    ("exitcode", "sentence"),
    [
        (-signal.SIGKILL, KILLED),
        (-signal.SIGSEGV, "The engine process crashed (SIGSEGV, a segmentation fault in a native library); "
                          "the next request starts a new one."),
        (-signal.SIGTERM, TERMINATED),
        (-signal.SIGUSR1, "The engine process was stopped by SIGUSR1; the next request starts a new one."),
        (-200, "The engine process was stopped by signal 200; the next request starts a new one."),
        (3, "The engine process stopped unexpectedly (exit code 3); the next request starts a new one."),
        (0xC0000005, "The engine process crashed (an access violation in a native library); the next request "
                     "starts a new one."),
        (None, "The engine process stopped answering; the next request starts a new one."),
    ],
)
def test_exit_sentence_names_the_signal(exitcode: Optional[int], sentence: str) -> None:
    assert exit_sentence(exitcode) == sentence
    died = EngineDied(exitcode)
    assert error_sentence(died) == sentence  # the chat card and Processing show it as it is
    assert str(exitcode) in died.details  # the log keeps the number


@pytest.mark.parametrize(("signum", "sentence"), [(signal.SIGKILL, KILLED), (signal.SIGTERM, TERMINATED)])
def test_engine_killed_mid_task_is_one_sentence_and_the_next_task_starts_a_new_process(
        qtbot, holder, signum: int, sentence: str) -> None:
    holder.call(CONFIG, "whoami", {})
    builds = holder.builds
    task = EngineTask("slow", "tiles", {"n": 200, "seconds": 0.05}, CONFIG, holder)
    messages: list[str] = []
    task.messageChanged.connect(messages.append)
    outcome = start_task(task)
    qtbot.waitUntil(lambda: len(messages) >= 2, timeout=30000)  # mid-call: tiles are arriving
    killed = holder.worker_pid
    os.kill(killed, signum)
    qtbot.waitUntil(lambda: bool(outcome), timeout=10000)
    assert outcome == {"error": sentence}
    assert len(messages) < 200  # it really was stopped in the middle

    after = run_task(qtbot, EngineTask("next", "whoami", {}, CONFIG, holder))["result"]
    assert after["pid"] != killed and after["pid"] == holder.worker_pid
    assert holder.builds == builds + 1  # one fresh process, same settings


def test_engine_killed_while_idle_is_replaced_without_an_error(qtbot, holder) -> None:
    first = holder.call(CONFIG, "whoami", {})["pid"]
    builds = holder.builds
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: holder.worker_pid is None, timeout=5000)
    assert holder.call(CONFIG, "whoami", {})["pid"] not in (first, os.getpid())
    assert holder.builds == builds + 1


def test_chat_card_shows_the_sentence_when_the_engine_is_killed(plugin, iface, utm_layer, qtbot, holder) -> None:
    show_layer(iface, utm_layer)
    controller = plugin.controller
    controller.holder = holder  # the stand-in engine: its "caption" streams 40 tiles
    ask(qtbot, plugin, "describe this")
    qtbot.waitUntil(lambda: plugin.dock.status_label.text().startswith("tile "), timeout=30000)
    killed = holder.worker_pid
    os.kill(killed, signal.SIGKILL)
    wait_for_task(qtbot, controller, timeout=30000)
    turn = controller.conversation.turns[-1]
    assert turn.status == FAILED and turn.error == KILLED
    assert plugin.dock.turn_widgets[turn.id].answer == f"Failed: {KILLED}"  # the card: one sentence, no traceback
    assert iface.messages()[-1] == KILLED

    ask(qtbot, plugin, "describe this")  # the next request works, on a new process
    wait_for_task(qtbot, controller, timeout=60000)
    again = controller.conversation.turns[-1]
    assert again.status == DONE and again.answer == "all tiles", again.error
    assert holder.worker_pid not in (None, killed)


def _echo(holder, tag: str, steps: int, barrier: threading.Barrier, outcomes: dict) -> None:
    progress: list[str] = []
    text: list[str] = []
    barrier.wait()
    try:
        result = holder.call(CONFIG, "echo", {"tag": tag, "steps": steps, "seconds": 0.04},
                             progress=lambda _f, message: progress.append(message), on_text=text.append)
    except Exception as exc:  # noqa: BLE001 - the test reports it
        result = exc
    outcomes[tag] = (result, progress, text)


def test_two_requests_at_once_queue_and_never_cross(holder) -> None:
    barrier = threading.Barrier(2)
    outcomes: dict = {}
    threads = [threading.Thread(target=_echo, args=(holder, tag, steps, barrier, outcomes), daemon=True)
               for tag, steps in (("A", 5), ("B", 7))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["A", "B"], "a request never came back"
    for tag, steps in (("A", 5), ("B", 7)):
        result, progress, text = outcomes[tag]
        assert isinstance(result, dict), result
        assert result["tag"] == tag and result["steps"] == steps  # its own result
        assert progress == [f"{tag} step {i}/{steps}" for i in range(1, steps + 1)]  # all its messages, only its
        assert text == [f"{tag}{i} " for i in range(steps)]
    a, b = outcomes["A"][0], outcomes["B"][0]
    assert a["pid"] == b["pid"]  # one engine process...
    assert a["end"] <= b["start"] or b["end"] <= a["start"]  # ...running one call at a time


def test_a_caller_that_stops_reading_leaks_nothing_into_the_next_call(holder) -> None:
    def panel_gone(_fraction: float, _message: str) -> None:
        raise RuntimeError("wrapped C/C++ object has been deleted")

    with pytest.raises(RuntimeError, match="has been deleted"):  # the first call is abandoned mid-way
        holder.call(CONFIG, "echo", {"tag": "A", "steps": 5, "seconds": 0.04}, progress=panel_gone)
    progress: list[str] = []
    result = holder.call(CONFIG, "echo", {"tag": "B", "steps": 3, "seconds": 0.01},
                         progress=lambda _f, message: progress.append(message))
    assert result["tag"] == "B"  # not A's late result
    assert progress == ["B step 1/3", "B step 2/3", "B step 3/3"]  # not A's late progress


def test_a_terminated_real_engine_leaves_nothing_in_tmpdir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QGIS stopping the engine (terminate after a cancel, or at exit) still removes its temporary folder."""
    import time

    from plugin.engine_client import EngineHolder
    from tests.rasters import make_raster

    scene = make_raster(tmp_path / "scene.tif", width=64, height=64)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the engine process reads it when it starts
    real = EngineHolder(factory="core.engine:Engine")
    try:
        config = EngineConfig(model="tiny", device="cpu", tile=64, overlap=16)
        result = real.call(config, "ask", {"raster": scene, "question": "How much is water?"})
        assert result.source == "measured"
        assert [p.name for p in tmp.iterdir() if p.name.startswith("earthask-")]  # its folder, while it runs
        pid = real.worker_pid
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while real.worker_pid is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert real.worker_pid is None
        assert not [p.name for p in tmp.iterdir() if p.name.startswith("earthask-")]
    finally:
        real.shutdown()
