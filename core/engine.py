"""The engine: segment, ask, ground, caption and classify a raster (or an area of it), QGIS-free."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core import analysis
from core.analysis import AOILike, Area
from core.config import EngineConfig
from core.errors import InputError
from core.progress import CancelledFn, ProgressFn, SubProgress, check_cancelled, no_progress
from core.results import AnswerResult, CaptionResult, ClassifyResult, GroundResult, Provenance, Retrieved, SegmentResult
from core.stats import SceneStats, describe_stats

TextFn = Callable[[str], None]
Imagery = tuple[Optional[Sequence[int]], Optional[str]]  # the user's (bands, sensor)
WantsModel = Optional[Callable[[], bool]]  # whether a request needs the language model (asked once segmenting)
MAX_QUESTION = 2000  # characters
MAX_AREAS = 4  # segmentations kept for later questions; the oldest one's mask file goes first


class Engine:
    """Loads the model once and runs every pipeline on rasters; safe to reuse across requests.

    Every method takes ``progress(fraction, message)`` and ``cancelled()`` callables; cancelling
    raises :class:`core.errors.Cancelled` within one tile batch and leaves no partial output file.
    Every request is checked (raster, AOI, question, choices, output path) before the model loads.
    Use it as a context manager (or call :meth:`close`): its temporary files go with it.
    """

    def __init__(self, config: Optional[EngineConfig] = None) -> None:
        self.config = config or EngineConfig()  # validated when it was made
        if self.config.semantic_db and not Path(self.config.semantic_db).expanduser().is_dir():
            raise InputError(f"Semantic database not found: {self.config.semantic_db}")
        self._parts: Any = None  # core.model_parts.ModelParts: the segmenter alone, the full model when needed
        self._device: Optional[str] = None
        self._predict: Any = None
        self._providers: list[str] = []
        self._refiner: Any = None  # the model's spectral refiner, loaded on first multispectral use
        self._backend: Optional[str] = None  # the backend really used ("auto" resolved), set with the predictor
        self._db: Any = None
        self._db_checked = False
        self._workdir: Optional[Path] = None
        self._cleanup: Optional[weakref.finalize] = None
        self._segmentations: OrderedDict[tuple[Any, ...], tuple[str, SceneStats, int]] = OrderedDict()
        self._facts_cache: dict[str, Any] = {}
        self._made = 0  # segmentations made, for unique file names

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def workdir(self) -> Path:
        """The engine's temporary folder (made on first use; removed by :meth:`close`, or at exit at the latest)."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="earthask-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._workdir), True)
        return self._workdir

    # ----- loading -------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            from core.models_io import resolve_device

            self._device = resolve_device(self.config.device)
        return self._device

    @property
    def parts(self) -> Any:
        """The :class:`core.model_parts.ModelParts` of the configured model (nothing loads until a part is used)."""
        if self._parts is None:
            from core.model_parts import ModelParts

            self._parts = ModelParts(self.config.model, self.device, self.config.seed)
        return self._parts

    @property
    def segmenter(self) -> Any:
        """The :class:`core.model_parts.SegmenterPart`: all that segmentation and measured answers load."""
        return self.parts.part

    @property
    def loaded(self) -> Any:
        """The whole :class:`core.models_io.LoadedModel`, language model included, loaded on first use."""
        return self.parts.full

    @property
    def model_loaded(self) -> bool:
        """Whether any part of the model has loaded yet."""
        return self._parts is not None and self._parts.any_loaded

    @property
    def classes(self) -> list[str]:
        return self.segmenter.classes

    def _predictor(self) -> Any:
        if self._predict is None:
            from core.models_io import segmentation_predictor

            self._predict, self._providers, self._backend = segmentation_predictor(
                self.segmenter, self.config.backend, self.device, self.config.tile)
        return self._predict

    def semantic_db(self) -> Any:
        """The faiss semantic database, or None when the model has none (retrieval then returns nothing)."""
        if not self._db_checked:
            from core.models_io import open_semantic_db

            self._db, self._db_checked = open_semantic_db(self.loaded, self.config.semantic_db), True
        return self._db

    def close(self) -> None:
        """Remove the engine's temporary files (segmentations kept for reuse between questions)."""
        if self._parts is not None:
            self._parts.wait()  # a background model load ends before the engine's files go
        if self._cleanup is not None:
            self._cleanup()
        self._workdir = self._cleanup = None
        self._segmentations.clear()
        self._facts_cache.clear()

    def _keep(self, key: tuple[Any, ...], value: tuple[str, SceneStats, int]) -> None:
        """Keep a segmentation for later questions; beyond MAX_AREAS the oldest one (and its file) goes."""
        self._segmentations[key] = value
        while len(self._segmentations) > MAX_AREAS:
            _, (path, _, _) = self._segmentations.popitem(last=False)
            self._facts_cache.pop(path, None)
            Path(path).unlink(missing_ok=True)

    def _facts(self, area: Area) -> Any:
        """The measured facts (:class:`core.query.facts.AreaFacts`) of an area segmented before, cached."""
        from core.query.facts import AreaFacts

        mask_path, stats, _ = self._segment_area(area, None, no_progress, None)
        if mask_path not in self._facts_cache:
            self._facts_cache[mask_path] = AreaFacts.from_file(mask_path, self.classes, self.config.min_object_m2,
                                                               stats)
        return self._facts_cache[mask_path]

    # ----- shared steps --------------------------------------------------------------------------
    def _provenance(self, area: Area, stats: Optional[SceneStats], tiles: int, timings: dict[str, float]) -> Provenance:
        details = list(self._providers) + (["picked by auto"] if self.config.backend == "auto" else [])
        backend = (self._backend or self.config.backend) + (f" ({'; '.join(details)})" if details else "")
        part = self.segmenter
        notes = list(part.notes) + (list(stats.notes) if stats else [])
        if area.profile.note:
            notes.append(area.profile.note)
        if area.profile.spectral is not None:
            notes.append(f"multispectral: {area.profile.spectral.text()}; segmentation refined with these bands")
        if stats is not None:
            from core.landcover.resolution import training_note

            far = training_note(stats.gsd_m, list(part.cfg.trained_gsd_m))
            notes += [far] if far else []
        return Provenance(
            raster=area.info.path, crs=area.info.crs, aoi=list(area.bounds), band_profile=area.profile.to_dict(),
            class_stats=list(stats.classes) if stats else [], tiles=tiles, timings=timings, device=self.device,
            backend=backend, model_id=part.model_id, notes=notes,
        )  # fmt: skip

    def _segment_area(self, area: Area, out: Optional[str], progress: ProgressFn, cancelled: Optional[CancelledFn],
                      wants_model: WantsModel = None) -> tuple[str, SceneStats, int]:
        """Tiled segmentation of the area at full resolution, cached per area for later questions.

        When ``wants_model()`` says the request needs the language model, it starts loading in the background
        (once the segmenter is ready) and segmentation runs meanwhile.
        """
        from core.tiled import segment_raster

        key = area.key + (self.config.tile, self.config.overlap, self.config.backend)
        if key in self._segmentations:  # segmented before: reused, copied to ``out`` when one is asked for
            self._segmentations.move_to_end(key)
            if wants_model is not None and wants_model():
                self.parts.preload()
            kept = self._segmentations[key]
            if out is not None:
                check_cancelled(cancelled)
                from core.outputs import copy_raster

                kept = (copy_raster(kept[0], out), kept[1], kept[2])
            progress(1.0, "segmentation reused")
            return kept
        self._made += 1
        target = Path(out) if out else self.workdir / f"landcover_{self._made}.tif"
        predict = self._predictor()
        if area.profile.spectral is not None:
            predict = self._spectral(predict)
        if wants_model is not None and wants_model():
            self.parts.preload()
        result = segment_raster(
            area.info.path, predict, self.classes, target, tile=self.config.tile,
            overlap=self.config.overlap, batch_size=self.config.batch_size, window=area.window,
            profile=area.profile, progress=progress, cancelled=cancelled, workdir=str(self.workdir), mask=area.mask,
        )  # fmt: skip
        try:
            stats = analysis.measure(result.mask_path, self.classes, self.config.min_object_m2)
        except BaseException:
            Path(result.mask_path).unlink(missing_ok=True)
            raise
        value = (result.mask_path, stats, result.tiles)
        if out is None:
            self._keep(key, value)
        return value

    def locate(self, raster: str, aoi: AOILike = None, imagery: Imagery = (None, None)) -> Area:
        """The analysed area of a request (see :func:`core.analysis.locate`), with the NIR/SWIR bands found when
        the model has a spectral refiner and the config allows it."""
        from core.imagery.refiner import refiner_dir

        spectral = self.config.spectral and refiner_dir(self.config.model) is not None
        return analysis.locate(raster, aoi, bands=imagery[0], sensor=imagery[1], spectral=spectral)

    def _spectral(self, predict: Any) -> Any:
        """``predict`` followed by the model's spectral refiner (checked now, loaded once, in the background)."""
        from core.imagery.refiner import spectral_predictor
        from core.model_parts import refiner_in_background

        if self._refiner is None:
            self._refiner = refiner_in_background(self.config.model, self.classes, self.device, self._backend)
        return spectral_predictor(predict, self._refiner.result)

    def _prepare(self, raster: str, aoi: AOILike, progress: Optional[ProgressFn], cancelled: Optional[CancelledFn],
                 out: Optional[str] = None, upto: float = 0.7, writes: Sequence[tuple[Optional[str], str]] = (),
                 imagery: Imagery = (None, None), wants_model: WantsModel = None,
                 ) -> tuple[Area, SceneStats, int, dict[str, float]]:
        """Place the AOI, check the outputs, load the model, segment and measure (to ``out``, else the cache).

        ``writes``: (path, format) of the request's other outputs, checked here with ``out`` before the model
        loads (never an input, the right extension, a folder that exists). ``imagery``: the user's (bands,
        sensor), see :func:`core.imagery.choose_bands`. ``wants_model``: see :meth:`_segment_area`.
        """
        from core.outputs import check_output, input_files

        report = progress or no_progress
        t0 = time.perf_counter()
        area = self.locate(raster, aoi, imagery)
        outputs = ([(out, "geotiff")] if out is not None else []) + [w for w in writes if w[0] is not None]
        inputs = input_files(area.info.path) if outputs else []  # opened only when there is a path to check
        for path, fmt in outputs:
            check_output(path, fmt, inputs)
        check_cancelled(cancelled)
        report(0.02, "loading the model")
        _ = self.segmenter
        t1 = time.perf_counter()
        _, stats, tiles = self._segment_area(area, out, SubProgress(report, 0.05, upto), cancelled, wants_model)
        t2 = time.perf_counter()
        return area, stats, tiles, {"open": t1 - t0, "segment": t2 - t1}

    def _look(self, raster: str, aoi: AOILike, report: ProgressFn, cancelled: Optional[CancelledFn],
              stage: str, imagery: Imagery) -> tuple[Area, SceneStats, int, dict[str, float], Any, list[Retrieved]]:
        """Segment and measure the area, read its image for the model and retrieve descriptions."""
        area, stats, tiles, timings = self._prepare(raster, aoi, report, cancelled, imagery=imagery,
                                                    wants_model=lambda: True)
        t0 = time.perf_counter()
        image = self.image(area)
        retrieved = self._retrieve(image)
        timings["retrieve"] = time.perf_counter() - t0
        report(0.75, stage)
        check_cancelled(cancelled)
        return area, stats, tiles, timings, image, retrieved

    def image(self, area: Area, window: Any = None) -> Any:
        """The area (or a window of it) as the model's image tensor [1, 3, S, S] on the engine's device."""
        import torch

        size = self.segmenter.cfg.vision_image_size
        image = analysis.image_for_model(area, size, window)
        return torch.from_numpy(image)[None].to(self.device)  # [1, 3, S, S]

    def _retrieve(self, image: Any) -> list[Retrieved]:
        cfg = self.loaded.model.cfg
        db = self.semantic_db() if cfg.retrieval_enabled else None
        if db is None:
            return []
        import torch

        with torch.inference_mode():
            emb = self.loaded.model.embed_image(image).float().cpu().numpy()  # [1, D]
        return db.search(emb, k=cfg.retriever_top_k)[0]

    def generate(self, image: Any, task: str, query: str, stats: SceneStats, retrieved: list[Retrieved],
                 choices: Optional[Sequence[str]], on_text: Optional[TextFn], cancelled: Optional[CancelledFn]) -> Any:
        """The language model's output for one task on ``image``, with the measured stats and retrieved texts."""
        def stream(piece: str) -> None:
            check_cancelled(cancelled)
            if on_text is not None:
                on_text(piece)

        return self.loaded.model.generate(
            image, task, query, describe_stats(stats), [r.text for r in retrieved], choices=list(choices) if choices
            else None, max_new_tokens=self.config.max_new_tokens, on_text=stream,
        )  # fmt: skip

    # ----- pipelines -----------------------------------------------------------------------------
    def segment(self, raster: str, aoi: AOILike = None, out: Optional[str] = None,
                progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
                bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None) -> SegmentResult:
        """Land-cover segmentation of the raster (or AOI) to a class-index GeoTIFF, with map-unit stats.

        ``out`` defaults to ``<raster name>_landcover.tif`` in the current folder; it is never an input.
        An area this engine has segmented before (for a question, say) is not segmented again: the kept mask is
        copied to ``out``, with the same figures.
        """
        if out is None:
            out = os.path.abspath(f"{Path(str(raster)).stem}_landcover.tif")
        area, stats, tiles, timings = self._prepare(raster, aoi, progress, cancelled, out=out, upto=0.98,
                                                    imagery=(bands, sensor))
        (progress or no_progress)(1.0, "done")
        return SegmentResult(out, self.classes, self._provenance(area, stats, tiles, timings))

    def ask(self, raster: str, question: str, choices: Optional[Sequence[str]] = None, aoi: AOILike = None,
            progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
            on_text: Optional[TextFn] = None, bands: Optional[Sequence[int]] = None,
            sensor: Optional[str] = None) -> AnswerResult:
        """Answer a question about the raster (or AOI), guided by its measured land cover.

        Every method takes ``bands`` (1-based red, green, blue) and ``sensor`` (see ``core.imagery.sensors``) to
        say how the raster's bands are read; without them the file's descriptions, wavelengths or name decide.
        """
        from core.query.choices import check_options

        if not question or not question.strip():
            raise InputError("The question is empty.")
        if len(question) > MAX_QUESTION:
            raise InputError(f"The question is {len(question):,} characters long; ask it in at most {MAX_QUESTION:,}.")
        choices = check_options(choices, "choices")
        from core.query.answer import answer_question
        from core.query.parse import parse_question
        from models.prompts import match_choice

        report = progress or no_progress
        area, stats, tiles, timings = self._prepare(
            raster, aoi, report, cancelled, imagery=(bands, sensor),
            wants_model=lambda: parse_question(question.strip(), self.classes) is None,  # not measured: the model's
        )  # fmt: skip
        t0 = time.perf_counter()
        facts = self._facts(area)
        seen: dict[str, Any] = {}

        def ask_model() -> Any:
            image = seen["image"] = self.image(area)
            seen["retrieved"] = self._retrieve(image)
            report(0.75, "answering")
            check_cancelled(cancelled)
            return self.generate(image, "vqa", question.strip(), stats, seen["retrieved"], choices, on_text,
                                  cancelled)

        def rank_choices() -> int:
            from models.scoring import score_choices

            image = seen["image"]  # ranking follows the model's words, on the same image
            logp = score_choices(self.loaded.model, image, "vqa", question.strip(), describe_stats(stats),
                                 [r.text for r in seen.get("retrieved", [])], list(choices or []))
            return int(np.argmax(logp))

        got = answer_question(question.strip(), facts, choices, ask_model, match_choice, rank_choices)
        timings["answer"] = time.perf_counter() - t0
        prov = self._provenance(area, stats, tiles, timings)
        prov.retrieved = seen.get("retrieved", [])
        prov.prompt = got.generated.prompt if got.generated is not None else ""
        report(1.0, "done")
        return AnswerResult(question.strip(), got.answer, list(choices) if choices else None, prov, source=got.source,
                            explanation=got.explanation, query=got.query, figures=got.figures,
                            model_answer=got.model_answer, overruled=got.overruled)

    def caption(self, raster: str, aoi: AOILike = None, progress: Optional[ProgressFn] = None,
                cancelled: Optional[CancelledFn] = None, on_text: Optional[TextFn] = None,
                bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None) -> CaptionResult:
        """A caption of the raster (or AOI), conditioned on descriptions retrieved from the semantic database."""
        report = progress or no_progress
        area, stats, tiles, timings, image, retrieved = self._look(raster, aoi, report, cancelled, "captioning",
                                                                      (bands, sensor))
        t0 = time.perf_counter()
        out = self.generate(image, "caption", "", stats, retrieved, None, on_text, cancelled)
        from core.query.answer import check_text

        got = check_text(out.text.strip(), self._facts(area))
        timings["caption"] = time.perf_counter() - t0
        prov = self._provenance(area, stats, tiles, timings)
        prov.retrieved, prov.prompt = retrieved, out.prompt
        report(1.0, "done")
        return CaptionResult(got.answer, prov, source=got.source, explanation=got.explanation, figures=got.figures,
                             model_caption=got.model_answer, overruled=got.overruled)

    def classify(self, raster: str, labels: Optional[Sequence[str]] = None, aoi: AOILike = None,
                 progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
                 bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None) -> ClassifyResult:
        """Scene classification: the likelihood of each label as the answer, normalised over the labels."""
        from core.query.choices import check_options

        labels = check_options(labels, "labels")
        report = progress or no_progress
        area, stats, tiles, timings, image, retrieved = self._look(raster, aoi, report, cancelled, "classifying",
                                                                      (bands, sensor))
        t0 = time.perf_counter()
        from models.scoring import score_choices

        labels = labels or list(self.loaded.model.cfg.scene_labels)  # the checkpoint's own categories
        logp = score_choices(self.loaded.model, image, "classify", "", describe_stats(stats),
                             [r.text for r in retrieved], labels)
        probs = np.exp(np.asarray(logp, dtype=np.float64) - np.max(logp))
        probs /= probs.sum()
        scores = {label: float(p) for label, p in zip(labels, probs)}
        timings["classify"] = time.perf_counter() - t0
        prov = self._provenance(area, stats, tiles, timings)
        prov.retrieved = retrieved
        report(1.0, "done")
        return ClassifyResult(max(scores, key=scores.__getitem__), scores, prov)

    def ground(self, raster: str, prompt: str, aoi: AOILike = None, out: Optional[str] = None,
               progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
               oriented: bool = False, bands: Optional[Sequence[int]] = None,
               sensor: Optional[str] = None) -> GroundResult:
        """Find the objects a phrase describes, in the raster CRS.

        A phrase naming a land-cover class ("the 3 largest lakes in the north") is measured: the class's
        objects (connected components of the segmentation) are selected and outlined as polygons
        (``source="measured"``; ``oriented`` also writes their minimum rotated rectangles to ``out``).
        Any other phrase ("the cars") is the language model's boxes, window by window (``source="model"``).
        """
        from core.instances.phrase import parse_phrase

        if not prompt or not prompt.strip():
            raise InputError("Say what to find, e.g. 'the playgrounds'.")
        report = progress or no_progress
        area, stats, tiles, timings = self._prepare(raster, aoi, report, cancelled, writes=[(out, "gpkg")],
                                                    imagery=(bands, sensor),
                                                    wants_model=lambda: parse_phrase(prompt, self.classes) is None)
        query = parse_phrase(prompt, self.classes)
        if query is not None:
            from core.instances.ground import ground_instances
            from core.instances.polygons import write_objects_gpkg

            t0 = time.perf_counter()
            facts = self._facts(area)  # the mask already read for answers: the same objects, counted once
            found = ground_instances(facts.grid, facts.found(query.cls), self.classes, query, area,
                                     SubProgress(report, 0.7, 0.97), cancelled)
            layer = write_objects_gpkg(out, found.objects, area.info.crs, prompt=prompt.strip(), source=area.info.path,
                                       model=self.segmenter.model_id, oriented=oriented) if out else None
            timings["instances"] = time.perf_counter() - t0
            prov = self._provenance(area, stats, tiles, timings)
            prov.notes += [n for n in found.notes if n not in prov.notes]
            report(1.0, "done")
            return GroundResult(prompt.strip(), [o.box for o in found.objects], layer, found.warnings, prov,
                                source="measured", query=query.to_dict(), objects=found.objects)
        from core.grounding import ground_area

        t0 = time.perf_counter()
        boxes, warnings, windows = ground_area(self, area, prompt.strip(), stats, SubProgress(report, 0.7, 0.97),
                                               cancelled)
        timings["ground"] = time.perf_counter() - t0
        layer = None
        if out:
            from core.geo import write_boxes_gpkg

            layer = write_boxes_gpkg(out, boxes, area.info.crs, prompt=prompt.strip(), source=area.info.path,
                                     model=self.segmenter.model_id)
        prov = self._provenance(area, stats, tiles + windows, timings)
        report(1.0, "done")
        return GroundResult(prompt.strip(), boxes, layer, warnings, prov, source="model")

    def change(self, before: str, after: str, aoi: AOILike = None, out: Optional[str] = None,
               polygons: Optional[str] = None, question: Optional[str] = None,
               progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
               bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None,
               after_bands: Optional[Sequence[int]] = None, after_sensor: Optional[str] = None,
               caption: bool = False, on_text: Optional[TextFn] = None) -> Any:
        """Land-cover change from ``before`` to ``after`` over their overlap, on the first raster's grid.

        The second raster is read onto the first's grid (a warped VRT, read window by window); both are segmented
        with this engine's model. Returns a :class:`core.change.result.ChangeResult`: the from-to matrix (m², ha,
        share), the change mask GeoTIFF ``out`` (default ``<before name>_change.tif``), change polygons
        (``polygons``, a GeoPackage), objects that appeared or disappeared, the noise floor (the segmentation's
        disagreement with itself on the first image, shifted half a pixel) and, with ``question``, its measured
        answer. ``after_bands`` / ``after_sensor`` say how the second raster's bands are read. ``caption``: the
        language model also writes a short narrative around the measured figures, checked against them.
        """
        from core.change.run import run_change

        return run_change(self, before, after, aoi, out, polygons, question, progress, cancelled, bands, sensor,
                          after_bands, after_sensor, caption, on_text)


__all__ = ["Engine"]
