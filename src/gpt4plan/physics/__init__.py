"""Physics: transformer accounting (:mod:`.arch`) and collectives (:mod:`.comm`); see docs/design.md."""
