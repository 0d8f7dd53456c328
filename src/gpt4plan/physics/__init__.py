"""Physics: transformer accounting (:mod:`.arch`), collectives (:mod:`.comm`) and one forward pass of a
pipeline stage (:mod:`.step`); see docs/design.md."""
