"""The reference solutions of the exercises, one file per step."""
