"""Training the update network: the pose set, batches and the train loop."""
