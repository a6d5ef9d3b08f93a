"""Infrastructure: Redis and the job queue, outbound gateway HTTP, static assets."""
