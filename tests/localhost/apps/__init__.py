"""Small Functions apps the local host's tests run under the real Durable SDK."""
