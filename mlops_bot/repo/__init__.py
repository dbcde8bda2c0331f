"""Reading the user's repository: pipeline discovery, change planning and content hashes."""
