"""Token format: prefix by env, checksum recognisable offline, only a digest stored."""

import pytest

from projects import tokens
from projects.models import ApiToken


def test_generated_token_is_well_formed_and_checksummed():
    issued = tokens.generate("prod")
    assert issued.plaintext.startswith("pg_live_")
    assert len(issued.plaintext) == tokens.TOKEN_LENGTH
    assert tokens.is_well_formed(issued.plaintext)
    # One changed character breaks the checksum.
    body = issued.plaintext
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    assert not tokens.is_well_formed(flipped)


def test_dev_projects_get_test_tokens():
    assert tokens.generate("dev").plaintext.startswith("pg_test_")
    assert tokens.generate("staging").plaintext.startswith("pg_live_")


@pytest.mark.django_db
def test_only_digest_is_stored(project, make_token):
    token, plaintext = make_token(project)
    row = ApiToken.objects.get(pk=token.pk)
    assert row.digest == tokens.digest(plaintext)
    assert plaintext not in {row.digest, row.prefix, row.name}
    assert row.prefix == plaintext[: tokens.DISPLAY_PREFIX_LENGTH]
