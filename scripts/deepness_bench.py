"""Run an exported EarthAsk segmenter in the Deepness QGIS plugin, headless, and print its tiles/s and peak RSS.

A side-by-side harness for issue 12, not part of the test suite. It needs a copy of Deepness's ``src/`` (the
read-only mirror of github PUTvision/qgis-plugin-deepness) and OpenCV, which this project does not install:

    git -C <mirror> archive HEAD src | tar -x -C /tmp/deepness
    .venv/bin/python -m pip install --no-deps --target /tmp/deepness/site opencv-python-headless==4.14.0.94
    .venv/bin/python -m core export-onnx --out /tmp/onnx_export        # fixed 512 px tiles, probabilities out
    QT_QPA_PLATFORM=offscreen PYTHONPATH=/tmp/deepness/src:/tmp/deepness/site \\
        .venv/bin/python scripts/deepness_bench.py /tmp/onnx_export/segmenter.onnx /tmp/earthask-bench/bench_4096.tif

Deepness runs the ONNX model unmodified (its own Segmentor reads the class names and the static class
dimension). Settings as ``bench tiling``'s: 512 px tiles, 64 px overlap, batch 4, the scene's own 0.5 m pixels.
"""

from __future__ import annotations

import argparse
import resource
import time
from unittest.mock import MagicMock


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx")
    p.add_argument("raster")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--overlap", type=int, default=64, help="pixels")
    p.add_argument("--cm-per-px", type=float, default=50.0, help="the resolution Deepness processes at")
    args = p.parse_args()

    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

    app = QgsApplication([], False)
    app.initQgis()
    from deepness.common.channels_mapping import ChannelsMapping, ImageChannelStandaloneBand
    from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions
    from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType
    from deepness.common.processing_parameters.segmentation_parameters import SegmentationParameters
    from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation
    from deepness.processing.models.segmentor import Segmentor

    layer = QgsRasterLayer(args.raster, "scene")
    assert layer.isValid(), f"could not open {args.raster}"
    QgsProject.instance().addMapLayer(layer)
    mapping = ChannelsMapping()
    mapping.set_image_channels([ImageChannelStandaloneBand(band_number=i + 1, name=n)
                                for i, n in enumerate(("red", "green", "blue"))])
    mapping.set_number_of_model_inputs_same_as_image_channels()
    t0 = time.perf_counter()
    model = Segmentor(args.onnx)
    tile = model.get_input_size_in_pixels()[0]
    params = SegmentationParameters(
        resolution_cm_per_px=args.cm_per_px, tile_size_px=tile, batch_size=args.batch_size, local_cache=False,
        processed_area_type=ProcessedAreaType.ENTIRE_LAYER, mask_layer_id=None, input_layer_id=layer.id(),
        input_channels_mapping=mapping, postprocessing_dilate_erode_size=0,
        processing_overlap=ProcessingOverlap(ProcessingOverlapOptions.OVERLAP_IN_PIXELS, overlap_px=args.overlap),
        pixel_classification__probability_threshold=0.0, model=model,
    )  # fmt: skip
    processor = MapProcessorSegmentation(rlayer=layer, vlayer_mask=None, map_canvas=MagicMock(), params=params)
    tiles = processor.x_bins_number * processor.y_bins_number
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    processor.run()
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"deepness     {args.onnx} on {args.raster}: model ready in {loaded:.1f} s")
    print(f"tiles        {tiles} of {tile} px, overlap {args.overlap}, batch {args.batch_size}")
    print(f"elapsed      {elapsed:.1f} s (run(): tiles, then its result layers)")
    print(f"tiles/s      {tiles / elapsed:.2f} end to end")
    print(f"peak rss     {peak:.0f} MiB (ru_maxrss)")
    app.exitQgis()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
