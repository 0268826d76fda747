"""The network connectors that ship with agency, one module or package per network.

Each registers in the ``agency.connectors`` entry-point group (see ``pyproject.toml``);
a third-party connector registers the same way from its own distribution.
"""
