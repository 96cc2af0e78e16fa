"""Benchmarks: our job engine side by side with django-q2's stock ORM broker, in the same run.

`python -m bench` (or `make bench`) measures everything and writes bench/RESULTS.md;
`python -m bench --quick` runs the same scenarios at toy sizes (the test suite runs it so the
benchmark cannot rot). Every scenario runs against its own database (`dhanman_bench`), never
the test database. See bench/RESULTS.md for the method.
"""
