"""JSON Schemas, vocabularies and country data of the repository, shipped as package data."""
