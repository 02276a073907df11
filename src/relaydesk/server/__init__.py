"""The ASGI application: factory, middleware, error format, lifespan."""
