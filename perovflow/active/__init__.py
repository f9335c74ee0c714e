"""Rules of the two-stage active learning and the relaxation test (science code only)."""
