"""ProductStudio: edit, generate, measure and check e-commerce product images."""

__version__ = "0.1.0"
