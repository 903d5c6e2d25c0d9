"""The router's view of local load: engine stats polled at sub-second intervals, the
router's own in-flight counts, and the saturation rules that turn both into a verdict."""
