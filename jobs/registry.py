"""Which functions may run as jobs: only registered `django.tasks` tasks.

A Job row names its task by dotted path. Resolving that path with a bare import_string would
make the database a way to run any code (`os.system`); here a path resolves only when the module
attribute it names is a django.tasks Task of our backend whose own path is that path.
"""

import importlib
from functools import cache

from django.tasks import Task

from jobs.task import JobTask


class UnknownTask(LookupError):
    """The path does not name a registered task."""


def resolve_task(path: str) -> Task:
    module_name, _, attr = (path or "").rpartition(".")
    if not module_name or not attr or attr.startswith("_"):
        raise UnknownTask(f"{path!r} is not a task path (module.function).")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownTask(
            f"Task {path!r} cannot be found: module {module_name!r} does not import ({exc})."
        ) from exc
    obj = getattr(module, attr, None)
    if obj is None:
        raise UnknownTask(f"Task {path!r} cannot be found: {module_name!r} has no {attr!r}.")
    if not isinstance(obj, JobTask) or obj.module_path != path:
        raise UnknownTask(f"{path!r} is not a registered task: only @task functions run as jobs.")
    return obj


def task_path(task_or_path) -> str:
    if isinstance(task_or_path, Task):
        return task_or_path.module_path
    return str(task_or_path)


@cache
def declared_task_paths() -> tuple[str, ...]:
    """The paths of the tasks declared in each installed app's `tasks` module (imported here, as
    the admin discovers `admin` modules): the console's task filter offers them as a list."""
    from django.apps import apps

    found = set()
    for config in apps.get_app_configs():
        name = f"{config.name}.tasks"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        for value in vars(module).values():
            if isinstance(value, JobTask) and value.module_path.startswith(f"{name}."):
                found.add(value.module_path)
    return tuple(sorted(found))
