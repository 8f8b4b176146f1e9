"""Each batch task on one item, in process (the actor's code without Ray), with a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
import torch

from core.batch.inputs import work_items
from core.batch.items import Source
from core.batch.ray_run import ModelWorker
from core.batch.tasks import TaskSpec
from core.config import EngineConfig
from core.errors import InputError
from core.instances.polygons import read_objects_gpkg
from tests.rasters import make_raster

CONFIG = EngineConfig(model="tiny", device="cpu", backend="torch", tile=64, overlap=16, batch_size=4,
                      max_new_tokens=6)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_raster(tmp_path_factory.mktemp("tasks") / "scene.tif", width=96, height=80, seed=7)


def _worker(spec: TaskSpec, out: Path) -> ModelWorker:
    return ModelWorker(CONFIG, spec, str(out), threads=torch.get_num_threads())


def test_segment_ask_ground_rows_quote_the_measurement(scene: str, tmp_path) -> None:
    item = work_items(Source(scene))[0]
    seg = _worker(TaskSpec("segment"), tmp_path).run(item)
    assert seg["status"] == "done" and seg["worker_peak_mb"] > 0 and seg["load_seconds"] == seg["seconds"]
    (mask,) = json.loads(seg["files"])
    assert Path(mask).parent == tmp_path / "items" / item.item_id
    with rasterio.open(mask) as m, rasterio.open(scene) as s:
        assert m.transform == s.transform and (m.width, m.height) == (s.width, s.height)
    shares = json.loads(seg["class_shares"])
    main = max(shares, key=shares.__getitem__)  # the random model's commonest class
    asked = _worker(TaskSpec("ask", question=f"How much of this scene is {main}?"), tmp_path).run(item)
    assert asked["status"] == "done" and asked["answer_source"] == "measured"
    assert f"{100 * shares[main]:.1f}%" in asked["answer"]  # the answer is the segmentation's own figure
    ground = _worker(TaskSpec("ground", prompt=f"the {main}s"), tmp_path / "g").run(item)
    assert ground["status"] == "done" and ground["answer_source"] == "measured"
    assert ground["objects"] == json.loads(ground["counts"])[main] >= 1
    layer = json.loads(ground["files"])[0]
    assert Path(layer).is_file() and len(read_objects_gpkg(layer)[0]) == ground["objects"]


def test_classify_change_and_a_failing_item(scene: str, tmp_path) -> None:
    item = work_items(Source(scene))[0]
    labels = ("farmland", "city")
    got = _worker(TaskSpec("classify", labels=labels), tmp_path).run(item)
    scores = json.loads(got["scores"])
    assert got["status"] == "done" and got["label"] in labels and sum(scores.values()) == pytest.approx(1.0, abs=1e-4)
    after = make_raster(tmp_path / "after.tif", width=96, height=80, seed=8)
    pair = work_items(Source(scene, after))[0]
    change = _worker(TaskSpec("change"), tmp_path).run(pair)
    assert change["status"] == "done" and change["answer_source"] == "measured"
    assert 0 <= change["changed_m2"] <= change["compared_m2"] == pytest.approx(96 * 80 * 100.0)  # 10 m pixels
    assert all(Path(p).is_file() for p in json.loads(change["files"]))
    worker = _worker(TaskSpec("segment"), tmp_path)
    Path(scene + ".gone").write_bytes(b"")
    lost = work_items(Source(scene))[0]
    lost.path = scene + ".gone"  # the file went bad between opening and processing
    row = worker.run(lost)
    assert row["status"] == "failed" and row["error"].startswith("InputError") and ".gone" in row["error"]
    assert worker.run(item)["status"] == "done"  # the worker carries on


def test_task_settings_are_checked_before_anything_runs() -> None:
    with pytest.raises(InputError, match="--question"):
        TaskSpec("ask").check()
    with pytest.raises(InputError, match="--prompt"):
        TaskSpec("ground", prompt="  ").check()
    with pytest.raises(InputError, match="Unknown batch task"):
        TaskSpec("paint").check()
