"""API tokens: stored as digests, shown once, and issued and revoked from the account page,
the admin and the command line."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_only_a_digest_of_the_secret_is_stored(alice):
    from api.models import ApiToken

    token, secret = ApiToken.issue(alice, "script")
    assert secret.startswith("lp_") and len(secret) > 40
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert stored["prefix"] == secret[:10]
    assert ApiToken.authenticate(secret) == token


def test_a_revoked_token_no_longer_authenticates(alice):
    from api.models import ApiToken, TokenRejected

    token, secret = ApiToken.issue(alice, "script")
    assert token.revoke() is True
    assert token.revoke() is False  # once
    with pytest.raises(TokenRejected) as refused:
        ApiToken.authenticate(secret)
    assert refused.value.code == "token_revoked"


def test_a_deactivated_users_token_no_longer_authenticates(alice):
    from api.models import ApiToken, TokenRejected

    _, secret = ApiToken.issue(alice, "script")
    alice.is_active = False
    alice.save()
    with pytest.raises(TokenRejected):
        ApiToken.authenticate(secret)


def test_use_is_recorded_without_a_write_per_request(alice, django_assert_num_queries):
    from api.models import ApiToken

    token, secret = ApiToken.issue(alice, "script")
    with django_assert_num_queries(2):  # look up, record the first use
        ApiToken.authenticate(secret)
    with django_assert_num_queries(1):
        ApiToken.authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at is not None


# The account page -----------------------------------------------------------------------------


def test_the_account_page_shows_a_new_secret_once(client, alice):
    from api.models import ApiToken

    client.force_login(alice)
    created = client.post("/account/api-tokens/", {"name": "kiosk"})
    secret = re.search(r'id="new-token">(lp_[^<]+)<', created.content.decode()).group(1)
    assert ApiToken.authenticate(secret).name == "kiosk"
    page = client.get("/account/api-tokens/").content.decode()
    assert "kiosk" in page and secret[:10] in page and secret not in page


def test_the_account_page_needs_a_name(client, alice):
    client.force_login(alice)
    assert client.post("/account/api-tokens/", {"name": ""}).status_code == 400


def test_users_revoke_their_own_tokens_and_no_one_elses(client, alice, bob):
    from api.models import ApiToken

    mine, _ = ApiToken.issue(alice, "mine")
    theirs, _ = ApiToken.issue(bob, "theirs")
    client.force_login(alice)
    assert client.post(f"/account/api-tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/account/api-tokens/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert "theirs" not in client.get("/account/api-tokens/").content.decode()


def test_the_account_page_needs_a_signed_in_user(client):
    assert client.get("/account/api-tokens/").status_code == 302


# The admin ----------------------------------------------------------------------------------------


def test_staff_issue_a_token_in_the_admin_and_see_its_secret_once(client, staff, alice):
    from api.models import ApiToken

    client.force_login(staff)
    response = client.post("/admin/api/apitoken/add/", {"user": alice.pk, "name": "ops"},
                           follow=True)
    secret = re.search(r"(lp_[A-Za-z0-9_-]{40,})", response.content.decode()).group(1)
    token = ApiToken.authenticate(secret)
    assert (token.user, token.name) == (alice, "ops")
    listing = client.get("/admin/api/apitoken/").content.decode()
    assert secret not in listing and token.prefix in listing


def test_staff_revoke_tokens_in_the_admin(client, staff, alice):
    from api.models import ApiToken

    token, _ = ApiToken.issue(alice, "ops")
    client.force_login(staff)
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


# The command line ------------------------------------------------------------------------------


def test_the_command_creates_lists_and_revokes_tokens(alice):
    from api.models import ApiToken

    out = io.StringIO()
    call_command("api_token", "create", "alice", "--name", "cron", stdout=out, stderr=io.StringIO())
    secret = out.getvalue().strip()
    token = ApiToken.authenticate(secret)
    assert token.name == "cron"

    listing = io.StringIO()
    call_command("api_token", "list", "alice", stdout=listing)
    assert token.prefix in listing.getvalue() and secret not in listing.getvalue()

    call_command("api_token", "revoke", token.prefix, stdout=io.StringIO())
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_command_names_what_it_cannot_find(alice):
    with pytest.raises(CommandError, match="No user"):
        call_command("api_token", "create", "nobody")
    with pytest.raises(CommandError, match="No token"):
        call_command("api_token", "revoke", "12345")
