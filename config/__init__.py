"""Configuration at the bottom of the layers: every other package may import it, it imports none of them."""
