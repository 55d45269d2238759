"""Real servers the tests and benchmarks start on 127.0.0.1: PostgreSQL (as an unprivileged user
when run as root) and an S3-compatible moto server. Not part of the product."""
