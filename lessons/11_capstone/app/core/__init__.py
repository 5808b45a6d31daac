"""Configuration and the database engine, shared by the API and the migrations."""
