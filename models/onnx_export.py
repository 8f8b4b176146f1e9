"""The one place for ONNX export (segmenter; retriever image tower), with model metadata in metadata_props.

torch and onnx are imported inside the export functions: ``parse_metadata`` is used by
``core.onnx_backend`` in processes that have onnxruntime but must not load torch.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

ONNX_OPSET = 17
INPUT_RANGE = "0..1"
JSON_KEYS = ("classes", "normalisation", "class_names")  # values stored as JSON text
INT_KEYS = ("tile_size", "bands", "opset", "tiles_size", "embedding_dim")


def parse_metadata(props: dict[str, str]) -> dict[str, Any]:
    """metadata_props strings -> values: JSON keys decoded, integer keys as int, the rest as str."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key in JSON_KEYS:
            out[key] = json.loads(value)
        elif key in INT_KEYS:
            out[key] = int(value)
        else:
            out[key] = value
    return out


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata_props of an ONNX file, parsed (see ``parse_metadata``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return parse_metadata({p.key: p.value for p in model.metadata_props})


def segmenter_metadata(cfg: Any, tile_size: int, model_id: str) -> dict[str, str]:
    """metadata_props for a Segmenter export: ours, plus the keys the Deepness QGIS plugin reads."""
    classes = list(cfg.seg_classes)
    return {
        "model_id": model_id or cfg.vision_name,
        "classes": json.dumps(classes),
        "tile_size": str(int(tile_size)),
        "bands": str(int(cfg.vision_bands)),
        "input_range": INPUT_RANGE,
        "normalisation": json.dumps({"mean": list(cfg.vision_mean), "std": list(cfg.vision_std), "inside_model": True}),
        "opset": str(ONNX_OPSET),
        "output": "logits [B, K, H, W]",
        # Deepness: input 0..1 with no extra standardisation, output argmax over K
        "model_type": "Segmentor",
        "class_names": json.dumps({str(i): name for i, name in enumerate(classes)}),
        "tiles_size": str(int(tile_size)),
    }


def export_segmenter(
    segmenter: Any, path: str | Path, tile_size: int = 512, model_id: str = "", sample_size: int = 64
) -> Path:
    """Export a ``models.segmenter.Segmenter`` with dynamic batch, height and width; check and tag it.

    Args:
        segmenter: the module; exported in eval mode on its own device (its mode is restored after).
        path: the .onnx file to write.
        tile_size: the tile size recorded for users of the file (the graph takes any size).
        model_id: a name for the weights (default: the encoder name).
        sample_size: side of the dummy input used for tracing.
    """
    cfg = segmenter.cfg
    if getattr(segmenter.encoder.backbone, "naflex", False):
        raise ValueError("SigLIP2 encoders cannot be exported to ONNX (antialiased resize); use the torch backend")
    from models.digest import module_sha256

    meta = {**segmenter_metadata(cfg, tile_size, model_id), "weights_sha256": module_sha256(segmenter)}
    return _export(segmenter, path, cfg.vision_bands, sample_size, "logits", meta, dynamic_hw=True)


def export_image_tower(
    module: Any,
    path: str | Path,
    image_size: int,
    bands: int = 3,
    model_id: str = "",
    dynamic_hw: bool = False,
    extra_metadata: dict[str, str] | None = None,
) -> Path:
    """Export ``module.embed_image(x [B, bands, S, S] 0..1) -> [B, D]`` (e.g. ``Retriever``), dynamic batch.

    Args:
        image_size: S, the side the tower was trained at (also the tracing size).
        dynamic_hw: also leave H and W dynamic (only if the tower really accepts any size).
        extra_metadata: more metadata_props (strings), e.g. normalisation.
    """
    import torch

    class _EmbedImage(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.embed_image(x)  # [B, D]

    meta = {
        "model_id": model_id or type(module).__name__,
        "model_type": "ImageEmbedder",
        "tile_size": str(int(image_size)),
        "bands": str(int(bands)),
        "input_range": INPUT_RANGE,
        "opset": str(ONNX_OPSET),
        "output": "embedding [B, D], L2-normalised",
        **(extra_metadata or {}),
    }
    return _export(_EmbedImage(module), path, bands, image_size, "embedding", meta, dynamic_hw=dynamic_hw)


def _export(
    module: Any, path: str | Path, bands: int, size: int, output: str, meta: dict[str, str], dynamic_hw: bool
) -> Path:
    """Trace-export ``module`` (one input "image"), add metadata, check; returns the path."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    sample = torch.rand(2, bands, size, size, device=device)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_hw else {0: "batch"}
    out_axes = axes if output == "logits" else {0: "batch"}
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # dynamo=False: the TorchScript exporter needs no onnxscript and handles the dynamic pads/resizes
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (sample,),
                str(path),
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=["image"],
                output_names=[output],
                dynamic_axes={"image": axes, output: out_axes},
                do_constant_folding=True,
            )
    finally:
        module.train(was_training)
    model = onnx.load(str(path))
    meta["opset"] = str(ONNX_OPSET)
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
