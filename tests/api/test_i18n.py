"""Messages in French and English: gettext catalogues compiled by Babel, the language chosen
by the person, the request's Accept-Language, or the one the agency gave a client member."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from agency.kernel.i18n import LOCALE_DIR, accepted, choose, negotiate
from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, bearer, client_session, login

SOURCE = Path(__file__).resolve().parents[2] / "src" / "agency"
KEYWORDS = {"Text": None, "Plural": (1, 2), "N_": None}
BAD_BRAND = {"name": "", "slug": "maison", "timezone": "Europe/Paris"}
FRENCH_TITLE = "Saisie non valide"


def _marked() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(SOURCE), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _names(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_marked_message_has_a_french_translation() -> None:
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "agency.po").open("rb") as source:
        catalogue = read_po(source, locale="fr")
    translated = {}
    for message in catalogue:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {key!r}"
        assert not message.fuzzy, f"fuzzy, so left in English: {key!r}"
        for string in strings:
            assert _names(string) == _names(key), f"placeholders differ: {key!r}"
        translated[key] = strings
    marked = _marked()
    assert len(marked) > 100
    missing = sorted(marked - set(translated))
    assert missing == [], "run `make messages` and translate these"


def test_accept_language_is_read_as_rfc_9110_says() -> None:
    assert accepted("de-CH, fr;q=0.5, en;q=0.8, *;q=0.1") == ["de_CH", "en", "fr"]
    assert negotiate("fr-CA,fr;q=0.9") == "fr"
    assert negotiate("de, en-GB;q=0.7") == "en"
    assert negotiate("en;q=0, fr;q=0.2") == "fr"
    assert negotiate("de") is None and negotiate(None) is None and negotiate(";;q=x,") is None
    # The person's choice first, then the request's header, then the agency's for them.
    assert choose("en", "fr", None) == "fr"
    assert choose("en", None, "fr") == "en"
    assert choose("de", None, "fr") == "fr"
    assert choose(None, None, None) == "en"


async def test_problems_speak_the_language_the_request_asks_for(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    english = assert_problem(
        await client.post("/brands", json=BAD_BRAND, headers=tenant_a.headers), 422
    )
    assert english["title"] == "Invalid input"
    assert english["errors"][0]["message"] == "At least 1 character."
    response = await client.post(
        "/brands",
        json=BAD_BRAND,
        headers={**tenant_a.headers, "Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"},
    )
    french = assert_problem(response, 422)
    assert response.headers["content-language"] == "fr"
    assert "accept-language" in response.headers["vary"].lower()
    assert french["title"] == FRENCH_TITLE
    assert french["detail"] == "La requête a 1 champ non valide."
    assert french["errors"][0]["message"] == "Au moins 1 caractère."
    # Codes, pointers and figures do not change with the language.
    assert {k: v for k, v in french["errors"][0].items() if k != "message"} == {
        k: v for k, v in english["errors"][0].items() if k != "message"
    }
    missing = await client.get(
        "/brands/01900000-0000-7000-8000-000000000000",
        headers={**tenant_a.headers, "Accept-Language": "fr"},
    )
    assert assert_problem(missing, 404)["detail"].endswith("introuvable dans cette agence.")
    anonymous = await client.get("/members", headers={"Accept-Language": "fr"})
    assert assert_problem(anonymous, 401)["title"] == "Authentification requise"


async def test_a_persons_own_choice_wins_over_the_header(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    headers = bearer(await login(client, tenant_a.owner_email))
    chosen = await client.put("/auth/me/locale", json={"locale": "fr"}, headers=headers)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["user"]["locale"] == "fr"
    answer = await client.post(
        "/brands", json=BAD_BRAND, headers={**headers, "Accept-Language": "en"}
    )
    assert assert_problem(answer, 422)["title"] == FRENCH_TITLE
    assert (await client.get("/auth/me", headers=headers)).json()["user"]["locale"] == "fr"
    cleared = await client.put("/auth/me/locale", json={"locale": None}, headers=headers)
    assert cleared.json()["user"]["locale"] is None
    answer = await client.post("/brands", json=BAD_BRAND, headers=headers)
    assert assert_problem(answer, 422)["title"] == "Invalid input"
    refused = await client.put("/auth/me/locale", json={"locale": "de"}, headers=headers)
    assert assert_problem(refused, 422)["errors"][0]["code"] == "enum"
    token = await client.put("/auth/me/locale", json={"locale": "fr"}, headers=tenant_a.headers)
    assert_problem(token, 409, "api token")


async def test_a_client_member_hears_the_language_the_agency_gave_them(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brand = await client.post(
        "/brands",
        json={"name": "Maison", "slug": "maison", "timezone": "Europe/Paris"},
        headers=tenant_a.headers,
    )
    member = await add_client_member(
        client, tenant_a, brand.json()["id"], "claire@maison.example", locale="fr"
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, member["user_id"]))
    elsewhere = "/brands/01900000-0000-7000-8000-000000000000/channels"
    french = await client.get(elsewhere, headers=headers)
    assert assert_problem(french, 404)["title"] == "Introuvable"
    english = await client.get(elsewhere, headers={**headers, "Accept-Language": "en"})
    assert assert_problem(english, 404)["title"] == "Not found"


@pytest.mark.parametrize(
    ("language", "heading"), [("fr", "Types de problème"), ("en", "Problem types")]
)
async def test_problem_pages_are_in_the_readers_language(
    client: httpx.AsyncClient, language: str, heading: str
) -> None:
    page = await client.get("/problems", headers={"Accept-Language": language})
    assert f"<h1>{heading}</h1>" in page.text
    assert f'<html lang="{language}">' in page.text
    assert page.headers["content-language"] == language
