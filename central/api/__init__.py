"""The HTTP API: the FastAPI app, its routers (windows, civic imports, quarantine), read and write
access, request parameters and the body-size middleware."""
