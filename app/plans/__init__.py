"""Plans and the rule that decides whether health staff can see them."""
