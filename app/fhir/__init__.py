"""The FHIR R4 facade's resources: mapping only, no HTTP (routes live in app/api/fhir.py)."""
