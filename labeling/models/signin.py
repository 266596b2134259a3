from django.db import models


class ThrottleKind(models.TextChoices):
    ACCOUNT = "account", "Account"
    ADDRESS = "address", "Client address"


class SignInThrottle(models.Model):
    """Failed sign-ins of one account or one client address; while `locked_until` is ahead, sign-in is refused.

    Kept in the database, not the cache: the lock holds while Redis is down. See services/signin.py."""

    kind = models.CharField(max_length=8, choices=ThrottleKind)
    # A username as typed (cut to 150, the longest a username can be) or an IP address.
    key = models.CharField(max_length=150)
    failures = models.PositiveIntegerField(default=0)  # since the last lockout
    lockouts = models.PositiveSmallIntegerField(default=0)  # in a row: each one locks twice as long
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="signin_throttle_kind_key")]
        indexes = [models.Index(fields=["last_failure_at"], name="signin_throttle_last_failure")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
