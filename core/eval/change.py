"""``python -m core.eval.change``: change detection against truth, per edit, and on unchanged pairs.

Procedural pairs (:mod:`core.data.pairs`) are compared with ``Engine.change``; each edit's measured area is the
reported area of its from-to pairs, set beside its exact truth. Unchanged pairs are one real scene against itself
resampled to 20 m in EPSG:4326 and reprojected to 20 m in EPSG:32617: anything reported there is false change.
Prints a table (``--json``: the rows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "sentinel2_demo.tif"
UNCHANGED = (("resampled 20 m EPSG:4326", "EPSG:4326", 20.0), ("reprojected 20 m EPSG:32617", "EPSG:32617", 20.0))
TOLERANCE = 0.05  # an edit passes within 5% of its truth


def edit_rows(result: Any, truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Per edit of a pair's ``truth.json``: its truth, what was reported for its from-to pairs, the error."""
    rows = []
    for edit in truth["edits"]:
        pairs = [(p["from"], p["to"]) for p in edit["pairs"]]
        measured = sum(t.area_m2 for t in result.matrix if t.reported and (t.from_class, t.to_class) in pairs)
        err = (measured - edit["area_m2"]) / edit["area_m2"] if edit["area_m2"] else 0.0
        rows.append({"pair": truth["name"], "edit": edit["edit"], "pairs": [f"{a} -> {b}" for a, b in pairs],
                     "truth_m2": edit["area_m2"], "measured_m2": round(measured, 2), "error": round(err, 4),
                     "ok": abs(err) <= TOLERANCE})
    return rows


def reproject_like(src: Path, dst: Path, crs: str, metres: float) -> Path:
    """``src`` warped to ``crs`` at about ``metres`` pixels (average), written to ``dst``: the same scene on another
    grid. In EPSG:4326 the pixel is ``metres`` along the meridian."""
    import numpy as np
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src) as ds:
        res = (metres / 111_320.0,) * 2 if crs == "EPSG:4326" else (metres, metres)
        t, w, h = calculate_default_transform(ds.crs, crs, ds.width, ds.height, *ds.bounds, resolution=res)
        nodata = ds.nodata if ds.nodata is not None else 0
        out = np.full((ds.count, h, w), nodata, dtype=ds.dtypes[0])
        reproject(ds.read(), out, src_transform=ds.transform, src_crs=ds.crs, dst_transform=t, dst_crs=crs,
                  src_nodata=nodata, dst_nodata=nodata, resampling=Resampling.average)
        profile = dict(ds.profile, driver="GTiff", width=w, height=h, crs=crs, transform=t, nodata=nodata)
        for key in ("blockxsize", "blockysize", "tiled"):
            profile.pop(key, None)
        with rasterio.open(dst, "w", **profile) as o:
            o.write(out)
            for b in range(1, ds.count + 1):
                o.set_band_description(b, ds.descriptions[b - 1] or "")
    return dst


def run(out: Path, seed: int, count: int, size: int, scene: Optional[Path], engine: Any) -> dict[str, Any]:
    """Build the pairs in ``out``, compare each, and return the per-edit and unchanged rows."""
    from core.data.pairs import build_pairs

    edits, unchanged = [], []
    for truth in build_pairs(out / "pairs", seed=seed, count=count, size=size):
        folder = out / "pairs" / truth["name"]
        r = engine.change(str(folder / "before.tif"), str(folder / "after.tif"), out=str(folder / "change.tif"))
        edits += edit_rows(r, truth)
    if scene is not None:
        for name, crs, metres in UNCHANGED:
            after = reproject_like(scene, out / f"unchanged_{crs.replace(':', '')}.tif", crs, metres)
            r = engine.change(str(scene), str(after), out=str(out / f"unchanged_{crs.replace(':', '')}_change.tif"))
            moved = sum(t.area_m2 for t in r.matrix if t.changed)
            unchanged.append({"pair": name, "reported_m2": round(r.changed_m2, 1), "reported": len(r.reported()),
                              "disagreement_m2": round(moved, 1), "compared_m2": round(r.compared_m2, 1),
                              "noise": round(r.noise.disagreement, 4), "ok": r.changed_m2 == 0.0})
    return {"edits": edits, "unchanged": unchanged}


def table(res: dict[str, Any]) -> str:
    """The rows as a plain-text table."""
    lines = [f"{'pair':<10} {'edit':<20} {'truth m2':>10} {'measured m2':>12} {'error':>8}  within 5%"]
    for e in res["edits"]:
        lines.append(f"{e['pair']:<10} {e['edit']:<20} {e['truth_m2']:>10.1f} {e['measured_m2']:>12.1f} "
                     f"{100 * e['error']:>+7.1f}%  {'yes' if e['ok'] else 'NO'}")
    if res["unchanged"]:
        lines.append(f"{'unchanged pair':<30} {'reported m2':>12} {'pairs':>6} {'disagreement':>14} {'noise':>7}  "
                     "no change")
    for u in res["unchanged"]:
        lines.append(f"{u['pair']:<30} {u['reported_m2']:>12.1f} {u['reported']:>6} {u['disagreement_m2']:>12.1f}m2 "
                     f"{100 * u['noise']:>6.2f}%  {'yes' if u['ok'] else 'NO'}")
    ok = sum(e["ok"] for e in res["edits"]) + sum(u["ok"] for u in res["unchanged"])
    lines.append(f"passed {ok} of {len(res['edits']) + len(res['unchanged'])}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.eval.change", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for the pairs and the change outputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=3, help="procedural pairs")
    p.add_argument("--size", type=int, default=1024, help="procedural pair size in pixels")
    p.add_argument("--scene", default=str(DEMO), help="real scene for the unchanged pairs ('' to skip)")
    p.add_argument("--model", default="default")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from core.config import EngineConfig
    from core.engine import Engine

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Engine(EngineConfig(model=args.model)) as engine:
        res = run(out, args.seed, args.count, args.size, Path(args.scene) if args.scene else None, engine)
    print(json.dumps(res, indent=1) if args.json else table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
