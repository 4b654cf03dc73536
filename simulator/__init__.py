"""The real firmware on a desktop with simulated hardware: one terminal or a fleet."""
