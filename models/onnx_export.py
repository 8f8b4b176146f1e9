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
SEGMENTER_FORMAT = 2  # 1: logits out, class dimension symbolic; 2: softmax in the graph, K static
REFINER_FORMAT = 1  # the spectral refiner: probabilities and band planes in, refined probabilities out
OUTPUT_PROBABILITIES = "probabilities [B, K, H, W]"  # the segmenter's "output" metadata (format 2)
# values stored as JSON text (Deepness json.loads every key it reads: model_type, class_names, resolution...)
JSON_KEYS = ("classes", "normalisation", "class_names", "model_type", "resolution", "standardization_mean",
             "standardization_std")
INT_KEYS = ("tile_size", "bands", "opset", "tiles_size", "tiles_overlap", "embedding_dim", "fixed_size", "format")


def parse_metadata(props: dict[str, str]) -> dict[str, Any]:
    """metadata_props strings -> values: JSON keys decoded, integer keys as int, the rest as str.

    A JSON key that does not parse stays a string (format 1 wrote ``model_type`` unquoted).
    """
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key in JSON_KEYS:
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        elif key in INT_KEYS:
            out[key] = int(value)
        else:
            out[key] = value
    return out


def outputs_logits(meta: dict[str, Any]) -> bool:
    """Whether a segmenter export (parsed metadata) gives logits (format 1) rather than probabilities."""
    return str(meta.get("output", "")).startswith("logits")


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata_props of an ONNX file, parsed (see ``parse_metadata``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return parse_metadata({p.key: p.value for p in model.metadata_props})


def deepness_resolution_cm(trained_gsd_m: list[float]) -> float | None:
    """Deepness ``resolution`` (cm/px) when the model was trained at one pixel size; None when mixed or unknown
    (Deepness resamples the raster to ``resolution``, so a mixed-GSD model must not name one)."""
    sizes = {round(float(g), 6) for g in trained_gsd_m}
    return next(iter(sizes)) * 100.0 if len(sizes) == 1 else None


def segmenter_metadata(cfg: Any, tile_size: int, model_id: str, overlap: int = 64) -> dict[str, str]:
    """metadata_props for a Segmenter export: ours, plus the keys the Deepness QGIS plugin reads.

    Deepness (``deepness.processing.models.model_base``) ``json.loads`` each of its keys: ``model_type``
    ``"Segmentor"`` (a JSON string), ``class_names`` ``{"0": name, ...}``, ``tile_size`` / ``tiles_size``
    pixels, ``tiles_overlap`` percent of the tile, ``resolution`` cm/px (only when one training GSD).
    """
    classes = list(cfg.seg_classes)
    meta = {
        "model_id": model_id or cfg.vision_name,
        "classes": json.dumps(classes),
        "tile_size": str(int(tile_size)),
        "bands": str(int(cfg.vision_bands)),
        "input_range": INPUT_RANGE,
        "normalisation": json.dumps({"mean": list(cfg.vision_mean), "std": list(cfg.vision_std), "inside_model": True}),
        "opset": str(ONNX_OPSET),
        "format": str(SEGMENTER_FORMAT),
        "output": OUTPUT_PROBABILITIES,
        # Deepness: input 0..1 (its default: uint8 / 255, no standardisation), output probabilities over K
        "model_type": json.dumps("Segmentor"),
        "class_names": json.dumps({str(i): name for i, name in enumerate(classes)}),
        "tiles_size": str(int(tile_size)),
        "tiles_overlap": str(int(round(100 * overlap / tile_size))) if tile_size else "0",
    }
    resolution = deepness_resolution_cm(list(getattr(cfg, "trained_gsd_m", []) or []))
    if resolution is not None:
        meta["resolution"] = json.dumps(resolution)
    return meta


def export_segmenter(
    segmenter: Any,
    path: str | Path,
    tile_size: int = 512,
    model_id: str = "",
    sample_size: int = 64,
    overlap: int = 64,
    fixed_size: bool = False,
) -> Path:
    """Export a ``models.segmenter.Segmenter`` as ``image [B, bands, H, W] 0..1 -> probabilities [B, K, H, W]``.

    The softmax is in the graph and K is static in the output shape; the batch is dynamic, and so are H and W
    unless ``fixed_size`` (then both are ``tile_size``: what Deepness needs, it reads the tile size from the
    input shape). Checked and tagged with :func:`segmenter_metadata` plus ``weights_sha256``.

    Args:
        segmenter: the module; exported in eval mode on its own device (its mode is restored after).
        path: the .onnx file to write.
        tile_size: the tile size recorded for users of the file (and the fixed size when ``fixed_size``).
        model_id: a name for the weights (default: the encoder name).
        sample_size: side of the dummy input used for tracing (dynamic H, W only).
        overlap: tile overlap in pixels, recorded as Deepness's ``tiles_overlap`` percent.
        fixed_size: H = W = ``tile_size`` in the graph (``fixed_size`` metadata says so).
    """
    import torch

    cfg = segmenter.cfg
    if getattr(segmenter.encoder.backbone, "naflex", False):
        raise ValueError("SigLIP2 encoders cannot be exported to ONNX (antialiased resize); use the torch backend")
    from models.digest import module_sha256

    class _Probabilities(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # softmax over K written out: onnxruntime's Softmax on axis 1 of NCHW transposes (measured ~40% slower
            # for the whole Lite0 segmenter at 4 x 512 px on CPU); max, exp, sum and divide stay in NCHW
            z = self.inner(x).float()  # [B, K, H, W] logits
            e = torch.exp(z - z.amax(dim=1, keepdim=True))
            return e / e.sum(dim=1, keepdim=True)

    meta = {**segmenter_metadata(cfg, tile_size, model_id, overlap), "weights_sha256": module_sha256(segmenter)}
    if fixed_size:
        meta["fixed_size"] = str(int(tile_size))
    size = int(tile_size) if fixed_size else sample_size
    static = {1: len(cfg.seg_classes), **({2: size, 3: size} if fixed_size else {})}
    return _export(_Probabilities(segmenter), path, cfg.vision_bands, size, "probabilities", meta,
                   dynamic_hw=not fixed_size, static_dims=static)


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
        "model_type": json.dumps("ImageEmbedder"),
        "tile_size": str(int(image_size)),
        "bands": str(int(bands)),
        "input_range": INPUT_RANGE,
        "opset": str(ONNX_OPSET),
        "output": "embedding [B, D], L2-normalised",
        **(extra_metadata or {}),
    }
    return _export(_EmbedImage(module), path, bands, image_size, "embedding", meta, dynamic_hw=dynamic_hw)


def export_refiner(refiner: Any, path: str | Path, weights_sha256: str, model_id: str = "") -> Path:
    """Export a ``models.spectral.SpectralRefiner`` as ``probabilities [B, K, H, W], bands [B, 8, H, W] ->
    refined probabilities [B, K, H, W]``: what :meth:`SpectralRefiner.refine` computes (the log of the clipped
    probabilities, the refiner, the softmax) in one graph, so the onnx backend runs it without torch.

    Batch, H and W are dynamic; K is static. ``weights_sha256`` names the refiner's files (see
    ``core.imagery.refiner.refiner_key``) and is stored in the metadata with the classes.
    """
    import torch

    from models.spectral import CHANNELS

    class _Refine(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, probs: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
            z = self.inner(torch.log(probs.clamp(1e-6, 1.0)), bands)  # as SpectralRefiner.refine
            e = torch.exp(z - z.amax(dim=1, keepdim=True))  # softmax written out, as the segmenter's
            return e / e.sum(dim=1, keepdim=True)

    classes = list(refiner.cfg.classes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    probs = torch.full((1, len(classes), 16, 16), 1.0 / len(classes))
    bands = torch.rand(1, CHANNELS, 16, 16)
    axes = {0: "batch", 2: "height", 3: "width"}
    was_training = refiner.training
    refiner.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(_Refine(refiner).cpu(), (probs, bands), str(path), dynamo=False,
                              opset_version=ONNX_OPSET, input_names=["probabilities", "bands"],
                              output_names=["refined"], dynamic_axes={"probabilities": axes, "bands": axes,
                                                                      "refined": axes},
                              do_constant_folding=True)
    finally:
        refiner.train(was_training)
    meta = {"model_id": model_id or "spectral refiner", "model_type": json.dumps("SpectralRefiner"),
            "classes": json.dumps(classes), "bands": str(CHANNELS), "format": str(REFINER_FORMAT),
            "output": "refined probabilities [B, K, H, W]", "weights_sha256": weights_sha256}
    return _finish(path, meta, {1: len(classes)})


def _export(
    module: Any,
    path: str | Path,
    bands: int,
    size: int,
    output: str,
    meta: dict[str, str],
    dynamic_hw: bool,
    static_dims: dict[int, int] | None = None,
) -> Path:
    """Trace-export ``module`` (one input "image"), add metadata, check; returns the path.

    ``static_dims``: {axis: size} of the output written into the graph's output shape (the tracer leaves
    dimensions symbolic where shape inference loses them, and tools such as Deepness read them from there);
    given, the output's dynamic axes are the input's.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    sample = torch.rand(2, bands, size, size, device=device)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_hw else {0: "batch"}
    out_axes = axes if static_dims is not None else {0: "batch"}
    modes = [(m, m.training) for m in module.modules()]  # each one's own: a wrapper's mode is not its inner's
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
        for m, training in modes:
            m.training = training
    return _finish(path, meta, static_dims)


def _finish(path: Path, meta: dict[str, str], static_dims: dict[int, int] | None) -> Path:
    """Write ``static_dims`` into the first output's shape and ``meta`` into metadata_props; check and save."""
    import onnx

    model = onnx.load(str(path))
    for axis, value in (static_dims or {}).items():
        model.graph.output[0].type.tensor_type.shape.dim[axis].dim_value = int(value)
    meta["opset"] = str(ONNX_OPSET)
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
