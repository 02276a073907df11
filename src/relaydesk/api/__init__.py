"""The JSON API (`/api/v1`): thin handlers that validate, call actions, and serialise."""
