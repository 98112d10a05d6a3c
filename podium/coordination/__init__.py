"""The factory's coordination logic that sits between the pure domain core and the Functions
layer: replay-safe ids, the project coordinator's state machine, the flow run's scheduling
decisions, and the caller principal. No Azure import here either, so it is unit-testable."""
