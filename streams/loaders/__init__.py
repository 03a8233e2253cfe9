"""Edges that read the data files of the pure cores (``deploy/*.yaml``, the packaged CAP schema)
and hand the parsed content to ``streams.core``: the only file I/O on the cores' behalf."""
