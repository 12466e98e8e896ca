"""registry: clinics, attachment of people to PHC clinics, deaths, and visits from clinic systems."""
