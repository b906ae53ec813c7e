"""TIS and CRB register models, firmware-side drivers, and the backends they talk to."""
