"""What every front end shares: failure logging and polling under a lease."""
