"""Business logic of the wine_quality pipeline, installed into its image."""
