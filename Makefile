# PromptGate: `make run` serves on 127.0.0.1:8000 (gunicorn, which also starts the webhook worker:
# promptgate/gunicorn_conf.py), `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# A fresh clone runs in development mode (secrets generated into var/); set DEBUG=false in production.
export DEBUG ?= true

.PHONY: install run test test-fast lint format bench migrate

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py bootstrap_admin
	$(PY) manage.py collectstatic --noinput -v0
	$(VENV)/bin/gunicorn promptgate.asgi:application -c promptgate/gunicorn_conf.py \
		--bind $(HOST):$(PORT) --workers $(WORKERS)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m bench.run $(BENCH_ARGS)
