"""The queue tests' fixtures (sample media, worker services), for the core's tests."""

from tests.queue.conftest import samples

__all__ = ["samples"]
