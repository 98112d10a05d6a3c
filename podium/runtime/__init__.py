"""Runtime glue outside the Functions app: the local agent host and the main job runner."""
