"""Train the multispectral refiner (models/spectral.py) on the real chips' six reflectance bands.

    python -m core.train.spectral --data bench --model resources/model --out resources/model/spectral
    python -m core.train.spectral --data bench --model resources/model --out runs/spectral-rgb --bands rgb

The RGB segmenter of ``--model`` is frozen: its log-probabilities on each chip are computed once, for the RGB
the engine reads (a percentile stretch of the chip's bands) and for the benchmark's fixed-stretch image. The
refiner learns from random 128 px crops with flips, rotations, a gain jitter of the reflectance, each chip also
resampled to other pixel sizes (``--scales``: 0.5 reads a 10 m chip as 20 m pixels, 1.5 as about 6.7 m; the
segmenter's log-probabilities are recomputed on the resampled RGB) and, with ``--bands all`` (the default),
half the samples without SWIR, so that it serves rasters with NIR alone too.
``--bands rgb`` trains the same refiner with NIR and SWIR withheld: the control that tells what the infrared
bands add, as opposed to what training on real chips adds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.data.manifest import spectral_path

CROP = 128  # training crop side, px
MODES = {"all": ("full", "nir"), "nir": ("nir",), "rgb": ("rgb",)}


@dataclass
class Chip:
    """One real chip as the refiner sees it: RGB log-probabilities per radiometry, band planes, labels."""

    name: str
    logp: list[np.ndarray]  # float32 [K, H, W] each: engine read (percentile stretch), fixed-stretch image
    bands: np.ndarray  # float32 [8, H, W]: see core.raster.read_reflectance
    mask: np.ndarray  # uint8 [H, W], 255 = ignore


def chip_names(data: Path, splits: list[str]) -> list[str]:
    """Scenes of ``splits`` that have a ``spectral/<scene>.tif`` (the real chips)."""
    names = []
    for split in splits:
        path = data / split / "seg.jsonl"
        for line in path.read_text().splitlines() if path.is_file() else []:
            scene = json.loads(line)["scene"]
            if spectral_path(data, scene).is_file():
                names.append(scene)
    return names


def engine_read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the engine reads from a spectral chip: ``([3 + 8, H, W], valid [H, W])``."""
    from core.raster import compute_stretch, detect_profile, open_raster, read_window

    info = open_raster(path)
    profile = compute_stretch(path, detect_profile(info, spectral=True))
    if profile.spectral is None:
        raise ValueError(f"{path}: no NIR band found")
    return read_window(path, info.window, profile)


def resample(image: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``image [C, H, W]`` and ``mask [H, W]`` as if the pixels were ``1 / factor`` times their size.

    Pixel values are area-averaged when shrinking (bilinear when enlarging), as a coarser sensor integrates the
    ground; labels take the nearest pixel. ``factor == 1`` returns the inputs unchanged.
    """
    import torch
    import torch.nn.functional as F

    if factor == 1.0:
        return image, mask
    h, w = mask.shape
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    x = F.interpolate(x, size=size, mode="area") if factor < 1 else F.interpolate(x, size=size, mode="bilinear",
                                                                                 align_corners=False)
    m = F.interpolate(torch.from_numpy(np.ascontiguousarray(mask))[None, None].float(), size=size, mode="nearest")
    return x[0].numpy(), m[0, 0].numpy().astype(np.uint8)


def load_chips(data: Path, splits: list[str], segment: Any, fixed_stretch: bool = True,
               scales: tuple[float, ...] = (1.0,)) -> list[Chip]:
    """The chips of ``splits`` with the frozen segmenter's log-probabilities (``segment``: [1,3,H,W] -> logits).

    Each chip comes once per factor of ``scales`` (see :func:`resample`), named ``<scene>@<factor>`` when the
    factor is not 1.
    """
    import torch

    from core.data.manifest import load_image, load_mask

    chips = []
    for name in chip_names(data, splits):
        x, _ = engine_read(spectral_path(data, name))
        fixed = load_image(data / "images" / f"{name}.tif") if fixed_stretch else None
        labels = load_mask(data / "masks" / f"{name}.tif")
        for factor in scales:
            xs, mask = resample(x, labels, factor)
            rgbs = [xs[:3]] + ([resample(fixed, labels, factor)[0]] if fixed is not None else [])
            with torch.inference_mode():
                logp = [torch.log_softmax(segment(torch.from_numpy(np.ascontiguousarray(r))[None]).float(), 1)[0]
                        .numpy() for r in rgbs]
            label = name if factor == 1.0 else f"{name}@{factor:g}"
            chips.append(Chip(label, logp, xs[3:].astype(np.float32), mask))
    return chips


def withhold(bands: np.ndarray, mode: str) -> np.ndarray:
    """Band planes ``[..., 8, H, W]`` as a raster without SWIR (``nir``) or without NIR and SWIR (``rgb``)."""
    out = bands.copy()
    if mode in ("nir", "rgb"):
        out[..., 4:6, :, :] = 0.0
        out[..., 7, :, :] = 0.0
    if mode == "rgb":
        out[..., 3, :, :] = 0.0
        out[..., 6, :, :] = 0.0
    return out


def sample(chips: list[Chip], rng: np.random.Generator, crop: int, modes: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """One augmented training sample: (logp [K,c,c], bands [8,c,c], mask [c,c])."""
    chip = chips[int(rng.integers(len(chips)))]
    logp = chip.logp[int(rng.integers(len(chip.logp)))]
    h, w = chip.mask.shape
    r, c = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    parts = [logp[:, r:r + crop, c:c + crop], chip.bands[:, r:r + crop, c:c + crop].copy(),
             chip.mask[r:r + crop, c:c + crop]]
    gain = rng.uniform(0.9, 1.1) * rng.uniform(0.97, 1.03, size=6).astype(np.float32)
    parts[1][:6] = np.clip(parts[1][:6] * gain[:, None, None], 0.0, 1.5)
    parts[1] = withhold(parts[1], modes[int(rng.integers(len(modes)))])
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    out = []
    for a in parts:
        a = np.rot90(a, k, axes=(-2, -1))
        out.append(np.ascontiguousarray(a[..., ::-1] if flip else a))
    return tuple(out)


def train(chips: list[Chip], classes: list[str], bands: str = "all", steps: int = 1500, batch: int = 8,
          crop: int = CROP, lr: float = 3e-3, seed: int = 0, log: Any = print) -> Any:
    """A trained :class:`models.spectral.SpectralRefiner` (cross-entropy, 255 ignored, AdamW, cosine decay)."""
    import torch
    import torch.nn.functional as F

    from models.spectral import SpectralConfig, SpectralRefiner

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SpectralRefiner(SpectralConfig(classes=list(classes)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    model.train()
    for step in range(1, steps + 1):
        logp, planes, mask = (np.stack(a) for a in zip(*[sample(chips, rng, crop, MODES[bands]) for _ in range(batch)]))
        out = model(torch.from_numpy(logp), torch.from_numpy(planes))
        loss = F.cross_entropy(out, torch.from_numpy(mask.astype(np.int64)), ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps:
            log(f"step {step}/{steps} loss {loss.item():.4f}")
    return model.eval()


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.5,1,2"`` -> ``(0.5, 1.0, 2.0)``; each factor in (0, 4]."""
    try:
        scales = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--scales: {text!r} is not a comma-separated list of numbers") from None
    if not scales or any(not 0 < f <= 4 for f in scales):
        raise ValueError(f"--scales: {text!r}: give factors between 0 and 4, e.g. 0.5,1,1.5")
    return scales


def load_segmenter(model_dir: str) -> tuple[Any, list[str], str]:
    """The frozen RGB segmenter of a checkpoint: (segment fn, classes, model id)."""
    from core.models_io import load_model

    loaded = load_model(model_dir, "cpu")
    return loaded.model.segment, list(loaded.model.cfg.seg_classes), loaded.model_id


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train.spectral", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a benchmark with spectral/ chips (python -m core.data spectral)")
    p.add_argument("--model", default="default", help="checkpoint whose RGB segmenter is refined")
    p.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    p.add_argument("--bands", choices=list(MODES), default="all",
                   help="all: with and without SWIR (shipped); nir: NIR only; rgb: no infrared (the control)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scales", default="0.5,0.75,1,1.5",
                   help="pixel-size factors each chip is also trained at (1 = native; 0.5 = pixels twice as large)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = Path(args.data)
    start = time.perf_counter()
    segment, classes, model_id = load_segmenter(args.model)
    try:
        scales = parse_scales(args.scales)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chips = [c for c in load_chips(data, ["train"], segment, scales=scales) if min(c.mask.shape) >= CROP]
    if not chips:
        print(f"error: no spectral chips in {data}/spectral for the train split (python -m core.data spectral)",
              file=sys.stderr)
        return 2
    print(f"{len(chips)} training chips", flush=True)
    model = train(chips, classes, args.bands, args.steps, args.batch, seed=args.seed,
                  log=lambda m: print(m, flush=True))
    model.cfg.trained_on = {"data": str(data), "split": "train", "chips": len(chips), "bands": args.bands,
                            "steps": args.steps, "batch": args.batch, "seed": args.seed, "rgb_model": model_id,
                            "scales": list(scales),
                            "seconds": round(time.perf_counter() - start, 1)}
    model.save_pretrained(args.out)
    print(f"saved {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
