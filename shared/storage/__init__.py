"""Object storage through the S3 API: results archived so they outlive KIE's links."""
