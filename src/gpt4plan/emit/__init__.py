"""Launch arguments for serving engines (:mod:`.engines`) and training frameworks."""
