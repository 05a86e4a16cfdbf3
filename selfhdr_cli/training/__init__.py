"""Learning without ground truth: the color caches, the training set, losses, the loop, the two-stage recipe."""
