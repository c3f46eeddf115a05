# The two entry points (see README): `make run` and `make test`. Everything else is a helper they call.
VENV ?= .venv
TOPIC ?= reward hacking in a gridworld with a respawning coin
SCIENTIST = $(VENV)/bin/scientist

.PHONY: run test test-fast test-live setup lint docs bench record-fixtures record-study-fixtures record-probe-fixtures record-honest-fixtures record-calibration-fixtures lock

run: setup
	$(SCIENTIST) doctor || true
	$(SCIENTIST) run "$(TOPIC)"

test: setup  # the whole suite: parallel phase, then the live/serial phase; coverage printed at the end
	VENV=$(VENV) bash scripts/test.sh $(ARGS)

test-fast:  # the inner loop: no Docker, no live model, no PostgreSQL (bubblewrap sandbox); a few minutes
	env -u PYTHONDONTWRITEBYTECODE SCIENTIST_TEST_SANDBOX=local $(VENV)/bin/python -m pytest -n auto --dist loadgroup \
	  -m "not live and not live_full and not serial and not docker and not postgres and not slow" $(ARGS)

test-live: setup  # the further live tests on the embedded model (each has a recorded replay in `make test`)
	$(VENV)/bin/python -m pytest -m live_full $(ARGS)

setup:
	bash scripts/setup.sh $(VENV)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python scripts/lint_imports.py  # the import contract in pyproject: layers, no cycles, libraries
	$(VENV)/bin/python scripts/typecheck.py  # mypy over the installed layout (scientist.sandbox, ...)

docs:  # the documentation site (mkdocs.yml) into site/, offline; --strict: a warning fails the build
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup
	$(VENV)/bin/python benchmarks/overhead.py --live

lock:  # re-resolve requirements/lock.txt from pyproject.toml (exact pins + hashes; torch's CPU build)
	uv pip compile pyproject.toml --extra dev --extra ray --extra server --extra postgres --extra docs --generate-hashes --python-version 3.11 --find-links /opt/wheels \
	  -o requirements/lock.txt

record-fixtures: setup  # RECORD_ARGS="--keep --threads 1": record only changed requests (see the script)
	$(VENV)/bin/python tests/record_fixtures.py $(RECORD_ARGS)

record-study-fixtures: setup  # the end-to-end study's 16 runs on the embedded model (tests/test_study_e2e.py)
	$(VENV)/bin/python tests/record_study_fixtures.py $(RECORD_ARGS)

record-honest-fixtures: setup  # honest runs on the other five templates, for the monitors' false alarm rate (tests/test_honest_false_alarms.py)
	nice -n 5 $(VENV)/bin/python tests/record_honest_fixtures.py $(RECORD_ARGS)

record-probe-fixtures: setup  # the probe suite's 12 probed runs on the embedded model (tests/test_probe_suite_replay.py)
	$(VENV)/bin/python tests/record_probe_fixtures.py

record-calibration-fixtures: setup  # calibrate reviewer on 10 shipped papers on the embedded model (tests/test_calibration_replay.py)
	$(VENV)/bin/python tests/record_calibration_fixtures.py
