"""The completion stage: fill-in-the-middle (FIM) fine-tuning of a StarCoder-family base model on
code files, for editor auto-complete (`mixtune completion RECIPE`)."""
