"""Read models: the queries behind lists and views, shared by the API and the web app."""
