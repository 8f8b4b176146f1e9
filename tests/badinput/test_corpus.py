"""Every case of the seeded bad-input corpus (tests/badinput/corpus.py) keeps the CLI's contract (issue 10).

For each case, EITHER exit status 2 with exactly one line on stderr, starting with "error: ", and nothing on
stdout, OR exit status 0 with a result that is checked (the output opens with the input's CRS, size and
transform; the answer is not empty; a measured question prints "source: measured"...). Which of the two a case
allows is its ``expect``: "error", "ok" or "either". Always: no traceback (nor an exception escaping
``main()``); every file of the corpus byte for byte unchanged and nothing added to it; nothing in the case's
output folder (its working directory too) but the declared output; nothing in the case's own TMPDIR.

On success with ``--quiet`` stderr holds at most one line (a one-line warning); warnings and log records are
shown as a user would see them, not swallowed by pytest.

Signal cases run ``python -m core segment`` in a subprocess and send the signal mid-segmentation (once the
``.partial-*`` output exists): exit status 128 + the signal number, one line on stderr beyond progress (the bar
and the "cancelling..." acknowledgement of the signal count as progress), no traceback, no ``.partial-*`` file,
no output and nothing in TMPDIR. The three run at the same time, to keep the corpus fast.

Most cases run in-process through ``core.cli.main(argv)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal as signals
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.badinput.corpus import CATEGORIES, COMMON, PICKLE_MARKER, Case, make_corpus

ROOT = Path(__file__).resolve().parents[2]
CASES = make_corpus(Path(tempfile.gettempdir()) / "earthask-badinput-ids", write=False)  # ids only, no files
assert len(CASES) >= 90 and {c.category for c in CASES} == set(CATEGORIES)
SIGNAL_TIMEOUT = 120.0  # seconds for a signal case's process, start to end


# ----- the corpus and its fingerprint ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Case]]:
    folder = tmp_path_factory.mktemp("corpus")
    cases = {c.id: c for c in make_corpus(folder, seed=0)}
    assert list(cases) == [c.id for c in CASES]
    warm = tmp_path_factory.mktemp("warm-up")
    shutil.copyfile(cases["rasters-uint8"].argv[1], warm / "warm-up.tif")
    _warm_up(warm)
    yield cases
    for path in folder.rglob("*"):  # give permissions back so that pytest can clean up
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _warm_up(tmp: Path) -> None:
    """One run before the cases, TMPDIR and cwd pointing elsewhere: what happens once per process (imports,
    torch's first model, a cache torch may make under ``$TMPDIR``) is not charged to whichever case comes
    first. The signal cases, fresh processes, still see all of it."""
    import contextlib
    import io

    from core.cli import main

    old, cwd = tempfile.tempdir, os.getcwd()
    tempfile.tempdir = str(tmp)
    os.chdir(tmp)
    sink = io.StringIO()
    try:  # best effort: the cases themselves report whatever goes wrong here
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            main(["ask", str(tmp / "warm-up.tif"), "How much of this scene is water?", *COMMON])
    except BaseException:  # noqa: B036
        pass
    finally:
        tempfile.tempdir = old
        os.chdir(cwd)


def _corpus_folder(cases: dict[str, Case]) -> Path:
    return Path(cases["files-missing"].argv[1]).parent


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: sha256 of files, targets of links, 'dir' for folders."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link -> " + os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                try:
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                except PermissionError:
                    out[rel] = f"unreadable, {st.st_size} bytes, mode {st.st_mode:o}"
    return out


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.is_dir() else []


def _diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changed = [f"changed {k}" for k in before if k in after and before[k] != after[k]]
    removed = [f"removed {k}" for k in before if k not in after]
    added = [f"added {k}" for k in after if k not in before]
    return changed + removed + added


# ----- running a case ----------------------------------------------------------------------------------------
def _fill(text: str, out: Path) -> str:
    return text.replace("{out}", str(out))


def _seed_outputs(case: Case, out: Path) -> dict[str, str]:
    """Put the case's earlier outputs (files, folders, links) into its output folder; returns their hashes."""
    for name, source in case.seed_out:
        target = out / name
        if source is None:
            target.mkdir()
        elif source.startswith("->"):
            os.symlink(_fill(source[2:], out), target)
        else:
            shutil.copyfile(_fill(source, out), target)
    return _fingerprint(out)


@contextmanager
def _as_a_user_sees_them() -> Iterator[None]:
    """Warnings and log records reach stderr as in a plain ``python -m core`` run (pytest would collect them)."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)

        def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        handler = logging.StreamHandler(sys.stderr)  # what logging.lastResort does in a plain run
        handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(handler)
        try:
            yield
        finally:
            logging.getLogger().removeHandler(handler)


def _run_in_process(argv: list[str], capfd: pytest.CaptureFixture) -> tuple[Optional[int], str, str, str]:
    """(exit status or None, stdout, stderr, traceback of an exception escaping main() or '')."""
    from core.cli import main

    capfd.readouterr()
    escaped, status = "", None
    with _as_a_user_sees_them():
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse leaves this way; a string code is printed and means 1
            if isinstance(exc.code, str):
                sys.stderr.write(exc.code + "\n")
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: B036 - anything escaping main() is a traceback for the user
            escaped = traceback.format_exc()
    out, err = capfd.readouterr()
    return status, out, err, escaped


def _first(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return (lines[0][:200] + (f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else "")) if lines else "''"


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "''"


def _check_result(case: Case, out_dir: Path, stdout: str, seeded: dict[str, str]) -> list[str]:
    """The checks of a successful run: the declared output and what was printed."""
    problems = []
    data: Any = None
    if "--json" in case.argv:
        try:
            data = json.loads(stdout)
        except ValueError:
            return [f"--json printed no JSON: {_first(stdout)}"]
    output = Path(_fill(case.output, out_dir)) if case.output else None
    if case.check == "raster":
        problems += _check_raster(case, output, out_dir)
    elif case.check == "gpkg":
        problems += _check_gpkg(output)
    elif case.check in ("measured", "answer", "choice"):
        answer = data.get("answer") if data is not None else _answer_line(stdout)
        if answer is None or not str(answer).strip():
            problems.append(f"the answer is empty: {_first(stdout)}")
        if case.check == "measured":
            source = data.get("source") if data is not None else None
            if data is None and not re.search(r"^\s*source: measured\b", stdout, re.M):
                problems.append(f"no 'source: measured' line for a measured question: {_first(stdout)}")
            elif data is not None and source != "measured":
                problems.append(f"source is {source!r}, not 'measured'")
        if case.check == "choice":
            choices = [c.strip() for c in case.argv[case.argv.index("--choices") + 1].split("|")]
            if answer is not None and str(answer).strip().lower() not in {c.lower() for c in choices}:
                problems.append(f"the answer {answer!r} is not one of the choices")
    elif case.check == "label":
        labels = [c.strip() for c in case.argv[case.argv.index("--labels") + 1].split("|")]
        first = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
        if first not in labels:
            problems.append(f"the label {first!r} is not one of {labels}")
    elif case.check == "ground":
        if not re.search(r"^\s*source: ", stdout, re.M):
            problems.append(f"grounding printed no source line: {_first(stdout)}")
    if case.area_m2 is not None and data is not None:
        stats = (data.get("provenance") or {}).get("class_stats") or []
        got = sum(float(s.get("area_m2", 0.0)) for s in stats)
        if not math.isclose(got, case.area_m2, rel_tol=case.area_tol):
            problems.append(f"measured area {got:,.0f} m2, expected {case.area_m2:,.0f} m2 (±{case.area_tol:.0%})")
    if case.no_hectares and re.search(r"\d ha\b", stdout) and "crs" not in stdout.lower():
        problems.append("areas printed in ha for a raster without CRS, and no word about the missing CRS")
    if case.replaced and output is not None and output.is_file():
        name = str(output.relative_to(out_dir))
        if seeded.get(name) == hashlib.sha256(output.read_bytes()).hexdigest():
            problems.append(f"the earlier output {name} was not replaced")
    return problems


def _answer_line(stdout: str) -> Optional[str]:
    m = re.search(r"^A: ?(.*)$", stdout, re.M)
    return m.group(1) if m else None


def _check_raster(case: Case, output: Optional[Path], out_dir: Path) -> list[str]:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    if output is None or not output.is_file():
        return [f"no output GeoTIFF at {output}"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the PNG input
            src, dst = rasterio.open(case.like), rasterio.open(output)
        with src, dst:
            problems = []
            if dst.driver != "GTiff":
                problems.append(f"the output is {dst.driver}, not a GeoTIFF")
            if (dst.width, dst.height) != (src.width, src.height):
                problems.append(f"output size {dst.width}x{dst.height}, input {src.width}x{src.height}")
            if dst.crs != src.crs:
                problems.append(f"output CRS {dst.crs}, input {src.crs}")
            if not dst.transform.almost_equals(src.transform, precision=1e-6):
                problems.append(f"output transform {tuple(dst.transform)[:6]}, input {tuple(src.transform)[:6]}")
            if problems:
                return problems
            return _check_classes(src, dst)
    except Exception as exc:  # noqa: BLE001 - any failure to open the result is the finding
        return [f"the output does not open: {exc}"]


def _check_classes(src: Any, dst: Any) -> list[str]:
    """Every output pixel is a class index or nodata; the input's nodata (or all-NaN) pixels are nodata."""
    import numpy as np

    try:
        classes = json.loads(dst.tags().get("classes", "[]"))
    except ValueError:
        classes = []
    values, nodata = dst.read(1), dst.nodata
    valid = values != nodata if nodata is not None else np.ones(values.shape, bool)
    if classes and (values[valid] >= len(classes)).any():
        return [f"output values up to {int(values[valid].max())}, but only {len(classes)} classes"]
    empty = src.dataset_mask() == 0
    if np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
        empty |= np.isnan(src.read()).all(axis=0)
    if empty.any() and valid[empty].any():
        return [f"{int(valid[empty].sum())} output pixels have a class where the input has no data"]
    return []


def _check_gpkg(output: Optional[Path]) -> list[str]:
    if output is None or not output.is_file():
        return [f"no output GeoPackage at {output}"]
    if not output.read_bytes()[:16] == b"SQLite format 3\x00":
        return ["the output is not a GeoPackage (no SQLite header)"]
    con = sqlite3.connect(f"file:{output}?mode=ro&immutable=1", uri=True)
    try:
        tables = con.execute("SELECT table_name FROM gpkg_contents").fetchall()
    except sqlite3.Error as exc:
        return [f"the output is not a GeoPackage: {exc}"]
    finally:
        con.close()
    return [] if tables else ["the GeoPackage has no layer"]


def _contract(case: Case, status: Optional[int], stdout: str, stderr: str, escaped: str) -> list[str]:
    """Exit status and the shape of stdout/stderr."""
    if escaped:
        return [f"traceback: {_last(escaped)} (an exception escaped main())"]
    if "Traceback" in stderr:
        return [f"traceback on stderr: {_last(stderr.split('Traceback', 1)[1])}"]
    allowed = {"ok": (0,), "error": (2,), "either": (0, 2)}[case.expect]
    if status not in allowed:
        want = " or ".join(map(str, allowed))
        return [f"exit {status}, expected {want}; stderr: {_first(stderr)}; stdout: {_first(stdout)}"]
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    problems = []
    if status == 2:
        if len(lines) != 1:
            problems.append(f"exit 2 with {len(lines)} lines on stderr, not one: {_first(stderr)}")
        elif not lines[0].startswith("error: "):
            problems.append(f"the error line does not start with 'error: ': {lines[0][:200]}")
        if stdout.strip():
            problems.append(f"exit 2 but stdout is not empty: {_first(stdout)}")
    else:
        if len(lines) > 1:
            problems.append(f"exit 0 with {len(lines)} lines on stderr under --quiet: {_first(stderr)}")
        if not stdout.strip():
            problems.append("exit 0 but nothing printed")
    return problems


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.signal is None])
def test_case(case_id: str, corpus: dict[str, Case], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              capfd: pytest.CaptureFixture) -> None:
    case = corpus[case_id]
    if case.nonroot and os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop a read")
    out_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmp_dir.mkdir()
    seeded = _seed_outputs(case, out_dir)
    folder = _corpus_folder(corpus)
    before = _fingerprint(folder)
    argv = [_fill(a, out_dir) for a in case.argv]
    monkeypatch.chdir(out_dir)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_dir))
    monkeypatch.setenv("TMPDIR", str(tmp_dir))
    monkeypatch.delenv("EARTHASK_DEBUG", raising=False)  # a bug must show as one line, as for any user

    status, stdout, stderr, escaped = _run_in_process(argv, capfd)

    problems = _contract(case, status, stdout, stderr, escaped)
    problems += [f"input {d}" for d in _diff(before, _fingerprint(folder))]
    declared = {str(Path(_fill(case.output, out_dir)).relative_to(out_dir))} \
        if case.output and status == 0 and _fill(case.output, out_dir).startswith(str(out_dir)) else set()
    after = _fingerprint(out_dir)
    left = [d for d in _diff(seeded, after) if d.split(" ", 1)[1] not in declared]
    problems += [f"output folder: {d}" for d in left]
    problems += [f"left in TMPDIR: {p}" for p in _listing(tmp_dir)]
    problems += [f"a pickle was loaded ({PICKLE_MARKER} exists)" for p in case.never if os.path.lexists(p)]
    if status == 0 and not escaped and case.expect in ("ok", "either"):
        problems += _check_result(case, out_dir, stdout, seeded)
    assert not problems, "\n".join(problems)


# ----- signals -------------------------------------------------------------------------------------------------
def _run_signal_case(case: Case, base: Path) -> dict[str, Any]:
    """Start the case's command, send its signal once a .partial-* output exists, and wait for the end."""
    out_dir, tmp_dir = base / "out", base / "tmp"
    out_dir.mkdir(parents=True)
    tmp_dir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("EARTHASK_DEBUG", None)
    argv = [sys.executable, "-m", "core", *[_fill(a, out_dir) for a in case.argv]]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda k=k, f=f: streams.__setitem__(k, f.read()), daemon=True)
               for k, f in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for r in readers:
        r.start()
    sent_after, note = None, ""
    while proc.poll() is None and time.monotonic() - t0 < SIGNAL_TIMEOUT / 2:
        if any(p.name.startswith(".partial-") for d in (out_dir, tmp_dir) for p in d.rglob("*")):
            time.sleep(0.5)  # a few tiles in
            if proc.poll() is None:
                proc.send_signal(getattr(signals, case.signal))
                sent_after = time.monotonic() - t0
            break
        time.sleep(0.05)
    if sent_after is None and proc.poll() is None:
        proc.send_signal(getattr(signals, case.signal))
        sent_after, note = time.monotonic() - t0, "no .partial-* file appeared; the signal was sent anyway"
    try:
        proc.wait(timeout=max(5.0, SIGNAL_TIMEOUT - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        note = "the process did not end after the signal and was killed"
    for r in readers:
        r.join(timeout=10)
    return {"status": proc.returncode, "stdout": streams.get("stdout", ""), "stderr": streams.get("stderr", ""),
            "sent_after": sent_after, "note": note, "out": out_dir, "tmp": tmp_dir}


@pytest.fixture(scope="module")
def signal_runs(corpus: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """All signal cases at once (each process has its own output folder and TMPDIR)."""
    base = tmp_path_factory.mktemp("signals")
    runs: dict[str, dict[str, Any]] = {}
    todo = [c for c in corpus.values() if c.signal]
    before = _fingerprint(_corpus_folder(corpus))
    def run(case: Case) -> None:
        try:
            runs[case.id] = _run_signal_case(case, base / case.id)
        except Exception as exc:  # noqa: BLE001 - reported by the case's test
            runs[case.id] = {"status": None, "stdout": "", "stderr": "", "sent_after": None, "out": base / "none",
                             "tmp": base / "none", "note": f"could not run: {type(exc).__name__}: {exc}"}

    threads = [threading.Thread(target=run, args=(c,)) for c in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs["__inputs__"] = {"diff": _diff(before, _fingerprint(_corpus_folder(corpus)))}
    return runs


def _beyond_progress(stderr: str) -> list[str]:
    """stderr lines other than the progress bar and the acknowledgement of the signal."""
    out = []
    for line in stderr.replace("\r", "\n").splitlines():
        text = line.strip()
        if not text or re.match(r"^\[[#.]+\]\s+[\d.]+%", text) or text.lower().startswith("cancelling"):
            continue
        out.append(text)
    return out


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.signal is not None])
def test_signal(case_id: str, corpus: dict[str, Case], signal_runs: dict[str, dict[str, Any]]) -> None:
    case, run = corpus[case_id], signal_runs[case_id]
    problems = []
    if run["sent_after"] is None:
        problems.append(f"the run ended (exit {run['status']}) before the signal could be sent")
    if run["note"]:
        problems.append(run["note"])
    if "Traceback" in run["stderr"]:
        problems.append(f"traceback on stderr: {_last(run['stderr'].split('Traceback', 1)[1])}")
    if run["status"] != case.status:
        problems.append(f"exit {run['status']} after {case.signal}, expected {case.status}; stderr: "
                        f"{_first(run['stderr'])}")
    lines = _beyond_progress(run["stderr"])
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr beyond progress, not one: {lines[:3]}")
    problems += [f"left in the output folder: {p}" for p in _listing(run["out"])]
    problems += [f"left in TMPDIR: {p}" for p in _listing(run["tmp"])]
    problems += [f"input {d}" for d in signal_runs["__inputs__"]["diff"]]
    assert not problems, "\n".join(problems)


def test_corpus_is_deterministic(tmp_path: Path) -> None:
    """The same seed writes the same bytes into the same folder; another seed changes them."""
    def written(seed: int) -> dict[str, str]:
        folder = tmp_path / "corpus"
        cases = make_corpus(folder, seed=seed)
        assert [c.id for c in cases] == [c.id for c in CASES]
        os.chmod(folder / "no_permission.tif", 0o644)
        print_ = _fingerprint(folder)
        shutil.rmtree(folder)
        return print_

    first, again, other = written(3), written(3), written(4)
    assert first == again
    assert first != other and set(first) == set(other)
