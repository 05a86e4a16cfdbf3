"""Learning without ground truth: the colour caches, the training set, losses, the loop, the two-stage recipe."""
