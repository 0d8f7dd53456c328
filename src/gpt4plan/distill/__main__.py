"""``python -m gpt4plan.distill``: distil the measured kernel tables (:func:`gpt4plan.distill.main`)."""

from gpt4plan.distill import main

raise SystemExit(main())
