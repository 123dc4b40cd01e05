"""Your exercises: one file per step, the blanks marked ``# --- exercise K: ... ---``."""
