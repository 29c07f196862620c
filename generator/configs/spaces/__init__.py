"""One search space per kernel: its configs, its pruning rules, its default."""
