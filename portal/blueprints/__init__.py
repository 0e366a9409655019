"""One area per audience; each area's routes.py holds thin views over portal.services."""
