"""WSGI entry point (management tooling only; the server runs ASGI, see asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
application = get_wsgi_application()
