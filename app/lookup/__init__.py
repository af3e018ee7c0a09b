"""The lookup an unscheduled-care setting makes while registering a child."""
