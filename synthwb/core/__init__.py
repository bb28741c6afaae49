"""The bottom layer: registry idiom, errors, atomic file I/O, paths and time utilities.

It imports nothing else from synthwb; every other package may import it.
"""
__version__ = "0.1.0"
