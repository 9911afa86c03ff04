# PromptGate image: gunicorn + uvicorn workers serving promptgate.asgi on 0.0.0.0:8000.
# Production settings (DEBUG off): SECRET_KEY and PROMPTGATE_ENCRYPTION_KEYS must be given at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    PROMPTGATE_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
# (pyproject declares no packages: `pip install .` brings only the dependencies.)
COPY pyproject.toml ./
RUN pip install . && rm -rf build *.egg-info

COPY . .

# collectstatic imports the settings, which insist on secrets when DEBUG is off: give it throwaway
# ones for this one command (they are not kept in the image).
RUN SECRET_KEY=collectstatic-only \
    PROMPTGATE_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput -v0 \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin promptgate \
    && chown -R promptgate:promptgate /app/var

USER promptgate
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

# Workers: WEB_CONCURRENCY (gunicorn reads it; more than one needs REDIS_URL, see gunicorn_conf.py).
CMD ["gunicorn", "promptgate.asgi:application", "-c", "promptgate/gunicorn_conf.py", "--bind", "0.0.0.0:8000"]
