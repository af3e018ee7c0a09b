"""The local-authority directory and the register of superseded NHS numbers."""
