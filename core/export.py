"""Export the model's image parts to ONNX: the segmenter (for tiled inference, Deepness) and the retriever tower."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.outputs import atomic_file, check_output


def export_onnx(config: Any, out_dir: str) -> list[str]:
    """Write ``segmenter.onnx`` and ``image_tower.onnx`` into ``out_dir`` (each atomically); the folder is
    checked before the model loads.

    The segmenter gives probabilities with a static class dimension, takes ``config.tile`` square tiles
    (batch dynamic) and carries Deepness's metadata, so it runs unmodified in the Deepness QGIS plugin.
    """
    from core.engine import Engine
    from models.onnx_export import export_image_tower, export_segmenter

    out = Path(check_output(out_dir, "folder"))
    with Engine(config) as engine:
        model, model_id = engine.loaded.model, engine.loaded.model_id
        out.mkdir(exist_ok=True)
        written = []
        with atomic_file(os.fspath(out / "segmenter.onnx"), suffix=".onnx") as tmp:
            export_segmenter(model.segmenter, tmp, tile_size=config.tile, model_id=model_id, overlap=config.overlap,
                             fixed_size=True)
        written.append(str(out / "segmenter.onnx"))
        with atomic_file(os.fspath(out / "image_tower.onnx"), suffix=".onnx") as tmp:
            export_image_tower(model.retriever, tmp, model_id=model_id, image_size=model.cfg.vision_image_size)
        written.append(str(out / "image_tower.onnx"))
    return written
