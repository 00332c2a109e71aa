"""The JSON API for programs, version 1, under /api/v1/.

Django Ninja rather than Django REST Framework: the OpenAPI schema, the interactive docs,
pydantic validation and throttles come built in, and async views let the session routes wait on
the avatar provider and the reply task without holding a server thread.
"""

from ninja import NinjaAPI

from . import errors
from .auth import ApiTokenAuth, BrowserSession
from .endpoints import catalog, history, personas, sessions
from .limits import every_request

api = NinjaAPI(
    title="LivePersona API",
    version="1",
    description=(
        "Start live sessions with talking avatars and make them speak, read personas, avatars "
        "and voices, and read your conversation history. Authenticate with a personal API "
        "token (`Authorization: Bearer <token>`, from your account's API tokens page); the "
        "browser may use its session instead. Errors are "
        '`{"error": {"code": "...", "message": "..."}}`.'
    ),
    urls_namespace="api:api-v1",  # included by api/urls.py (app "api")
    auth=[ApiTokenAuth(), BrowserSession()],
    throttle=[every_request()],
)
errors.install(api)
api.add_router("/personas", personas.router)
api.add_router("/", catalog.router)
api.add_router("/sessions", sessions.router)
api.add_router("/conversations", history.router)
