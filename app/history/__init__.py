"""Access history: every look at one child, for the authorities responsible and auditors."""
