# Two commands: `make demo` runs the main job on the bundled demo scene, `make test` runs the tests.
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export EARTHASK_PYQT6_DIR ?= $(HOME)/.cache/earthask/pyqt6

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh demo_out

lint: setup
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest tests

clean:
	rm -rf demo_out dist build .pytest_cache .ruff_cache
