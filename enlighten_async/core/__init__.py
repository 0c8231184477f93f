"""The version-neutral engine: pacing, quotas, retries, transport, clock, spans and errors.

Nothing here knows an API version's paths, bodies or models; ``tests/test_import_graph.py``
holds it to that.
"""
