"""Accuracy: replay of published measurements (:mod:`.replay`), calibration, error bands (:mod:`.bands`)."""
