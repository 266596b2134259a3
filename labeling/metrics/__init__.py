"""Pure functions behind the weekly metrics: no ORM here."""
