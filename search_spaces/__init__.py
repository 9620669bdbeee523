"""Built-in spaces and tasks. Importing this package registers them in ``nas.catalog.SPACES``
and ``nas.data.TASKS``."""

from search_spaces import cnn1d, mnist1d_task  # noqa: F401  (registration side effects)

__all__ = ["cnn1d", "mnist1d_task"]
