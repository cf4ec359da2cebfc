"""Ground floor: settings, logging set-up, the base error and checkpointers; imports nothing of ours."""
