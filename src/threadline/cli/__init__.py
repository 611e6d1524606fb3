"""The ``threadline`` command line."""
