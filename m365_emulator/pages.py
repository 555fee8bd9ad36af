"""Browser pages (placeholder until the sign-in pages land)."""

from starlette.routing import Route

routes: list[Route] = []
