"""Built-in spaces and tasks. Importing this package registers them in ``nas.catalog.SPACES``
and ``nas.data.TASKS`` (and the ``table:<csv>`` prefix)."""

from search_spaces import cnn1d, mnist1d_task, nb201, table  # noqa: F401  (registration side effects)
from search_spaces import image_tasks, mbconv, text_task, tinylm  # noqa: F401  (registration side effects)
from search_spaces import cnn1d_ensemble  # noqa: F401  (registers cnn1d as an ensemble base)
from search_spaces import multitask_tasks  # noqa: F401  (registration side effects)
from search_spaces import cell1d  # noqa: F401  (registration side effects)

__all__ = ["cnn1d", "mnist1d_task", "nb201", "table", "image_tasks", "mbconv", "text_task", "tinylm", "multitask_tasks"]
