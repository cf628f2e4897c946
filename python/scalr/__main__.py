"""``python -m scalr``: the same as the ``scalr`` command."""
from scalr.cli import entry

entry()
