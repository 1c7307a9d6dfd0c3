# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs the suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-postgres lint bench lock clean

# The locked releases (constraints.txt): a dependency's new release reaches CI only through `make lock`.
# Byte-code is compiled here, once, on all cores (pip's own compile is serial: --no-compile): Python writes no .pyc
# on import where PYTHONDONTWRITEBYTECODE is set (CI and many containers set it), and then every process, each
# Prefect server, worker, console and CLI the suite starts, compiled its ≈ 2,000 modules again (≈ 4 CPU s each;
# a warm `emufleet up`: its Prefect server 13 → 7 CPU s). A file for a newer Python (whenever's _typing_312.py) is
# skipped, as pip skips it.
$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e '.[dev,postgres]'
	$(BIN)/python -c "import compileall, sysconfig; [compileall.compile_dir(d, quiet=2, workers=0) for d in \
	    (sysconfig.get_path('purelib'), 'emufleet', 'flows', 'adapters', 'tasks', 'console')]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emufleet demo

test: lint
	$(BIN)/python -m pytest -q -n 2

# ruff, then mypy in strict mode over the packages ([tool.mypy] in pyproject.toml names them), for this platform and
# for Windows (emulator hosts run Windows: a POSIX-only call outside emufleet/process.py's platform branches fails).
# The two mypy runs go at once (one process each, their own caches): a cold CI run then takes the longer of the two.
lint: $(STAMP)
	$(BIN)/ruff check emufleet adapters tasks flows console tests benchmarks
	$(BIN)/mypy --platform win32 --cache-dir .mypy_cache/win32 & win32=$$!; \
	    $(BIN)/mypy; here=$$?; wait $$win32 && exit $$here

# The whole suite with its PostgreSQL variants, on a throwaway cluster (the machine's initdb/pg_ctl; stopped after).
test-postgres: $(STAMP)
	EMUFLEET_REQUIRE_POSTGRES=1 $(BIN)/python -m emufleet.db.cluster -- $(MAKE) test

bench: $(STAMP)
	$(BIN)/python benchmarks/device.py
	$(BIN)/python benchmarks/vision.py
	$(BIN)/python benchmarks/leases.py
	$(BIN)/python benchmarks/orchestration.py
	$(BIN)/python benchmarks/health.py
	$(BIN)/python benchmarks/fuzz.py
	$(BIN)/python benchmarks/chaos.py --bots 8 --minutes 3

# Every dependency re-resolved to its newest release within pyproject.toml's ranges, in a scratch venv.
lock:
	rm -rf .lock-venv
	$(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev,postgres]'
	{ sed -n '/^#/p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache build *.egg-info
