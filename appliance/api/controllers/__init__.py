"""One controller per resource of the Oz API shape."""
