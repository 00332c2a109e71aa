"""`manage.py api_token create USER [--name NAME]`, `revoke ID`, `list [USER]`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken


class Command(BaseCommand):
    help = "Create, revoke or list per-user API tokens."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Issue a token and print its secret once.")
        create.add_argument("username")
        create.add_argument("--name", default="command line")
        revoke = actions.add_parser("revoke", help="Revoke a token by id or by its shown prefix.")
        revoke.add_argument("token")
        listing = actions.add_parser("list", help="List tokens (no secrets).")
        listing.add_argument("username", nargs="?")

    def handle(self, *args, action: str, **options):
        getattr(self, f"do_{action}")(**options)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def do_create(self, *, username: str, name: str, **options) -> None:
        _, secret = ApiToken.issue(self._user(username), name[:100])
        self.stderr.write("Store this token now; it cannot be shown again.")
        self.stdout.write(secret)

    def do_revoke(self, *, token: str, **options) -> None:
        tokens = ApiToken.objects.filter(pk=int(token)) if token.isdigit() else (
            ApiToken.objects.filter(prefix=token)
        )
        found = list(tokens[:2])
        if not found:
            raise CommandError(f"No token {token!r}.")
        if len(found) > 1:
            raise CommandError(f"More than one token starts with {token!r}; use its id.")
        if found[0].revoke():
            self.stdout.write(f"Revoked {found[0]}.")
        else:
            self.stdout.write(f"{found[0]} was already revoked.")

    def do_list(self, *, username: str | None, **options) -> None:
        tokens = ApiToken.objects.select_related("user")
        if username:
            tokens = tokens.owned_by(self._user(username))
        for token in tokens:
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            self.stdout.write(f"{token.pk}\t{token.user}\t{token.prefix}…\t{token.name}\t{state}")
