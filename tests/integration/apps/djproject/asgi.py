"""The Django test project as an ASGI application (get_asgi_application)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")
application = get_asgi_application()
