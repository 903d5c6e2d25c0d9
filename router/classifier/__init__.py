"""The routing classifier: label generation from graded answers, training, evaluation,
and the small runtime model the router consults."""
