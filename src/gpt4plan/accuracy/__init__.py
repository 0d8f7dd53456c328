"""Accuracy (docs/design.md): replay of published measurements (:mod:`.replay`; a record's fields
:mod:`.schema`, its predictions :mod:`.predict`), calibration (:mod:`.calibrate`), error bands (:mod:`.bands`)
and how often they hold on a source family left out (:mod:`.coverage`)."""
