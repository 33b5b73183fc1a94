"""The REST API (django-ninja): authentication, errors, schemas and routers, in one package.

``api.app.api`` is the one ``NinjaAPI``; handlers parse, authorize (``api.auth``), call one
action and shape the answer; every error is the JSON shape of ``api.errors``.
"""
