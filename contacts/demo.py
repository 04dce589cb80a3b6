"""Realistic synthetic people, for the demo data set and the benchmarks.

Deterministic for a given seed. Phone numbers are valid mobile numbers (checked with
phonenumbers) in a handful of countries; names and emails look like the real thing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import phonenumbers

FIRST_NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Willow",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theodore",
    "Freddie",
    "Jack",
    "Charlie",
    "Theo",
    "Alfie",
    "Jacob",
    "Thomas",
    "Finley",
    "Arlo",
    "Léa",
    "Chloé",
    "Manon",
    "Camille",
    "Louis",
    "Gabriel",
    "Jules",
    "Lucas",
    "Hugo",
    "Sofía",
    "Lucía",
    "Martina",
    "Mateo",
    "Hugo",
    "Pablo",
    "Álvaro",
    "Marie",
    "Sophie",
    "Maximilian",
    "Paul",
    "Emma",
    "Hannah",
    "Liam",
    "James",
    "Benjamin",
    "Elijah",
    "William",
    "Ava",
    "Harper",
    "Evelyn",
    "Abigail",
    "Aarav",
    "Priya",
    "Chen",
    "Wei",
    "Yuki",
    "Hiro",
    "Fatima",
    "Amina",
    "Zainab",
    "Kwame",
    "Ama",
    "Siobhán",
    "Niamh",
    "Seán",
    "Bjørn",
    "Åsa",
    "Zoë",
    "Renée",
    "José",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Dubois",
    "Martin",
    "Bernard",
    "Durand",
    "Lefèvre",
    "Moreau",
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "O'Brien",
    "O'Connor",
    "Nguyen",
    "Kim",
    "Tanaka",
    "Sato",
    "Ivanova",
    "Novak",
    "Kowalski",
    "Jansen",
    "De-Vries",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Silva",
    "Santos",
    "Costa",
    "Okafor",
    "Mensah",
    "Haddad",
    "Cohen",
]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "btinternet.com",
    "orange.fr",
    "gmx.de",
    "web.de",
    "acme.io",
    "example-corp.com",
    "northwind.co.uk",
    "contoso.com",
    "fabrikam.fr",
    "initech.com",
]
# Region -> share of contacts. Most of the base is in the default region.
REGIONS = {
    "GB": 0.55,
    "FR": 0.12,
    "US": 0.1,
    "DE": 0.08,
    "ES": 0.06,
    "IE": 0.04,
    "NL": 0.03,
    "BE": 0.02,
}
TAGS = [
    "VIP",
    "Lead",
    "Customer",
    "Newsletter",
    "Event 2026",
    "Partner",
    "Churn risk",
    "Beta tester",
]
LISTS = [
    ("Newsletter subscribers", None),
    ("Spring Sale 2026", None),
    ("Event invitees", 500),
    ("Key accounts", 200),
]
FIELDS = [
    ("lead_score", "number"),
    ("company", "text"),
    ("birthday", "date"),
    ("premium", "boolean"),
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
]


@dataclass
class FakePerson:
    email: str
    phone: str  # E.164
    phone_region: str
    national_phone: str  # the same number as a person in that country would type it
    first_name: str
    last_name: str
    created_at: dt.datetime
    tags: list[str] = field(default_factory=list)
    lead_score: int = 0
    company: str = ""


_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _mobile_pool(region: str, rng: random.Random, size: int = 400) -> list[tuple[str, str]]:
    """Valid mobile numbers for a region as (E.164, national format), varied from the example."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    pool: list[tuple[str, str]] = []
    attempts = 0
    while len(pool) < size and attempts < size * 20:
        attempts += 1
        tail = "".join(rng.choice("0123456789") for _ in range(4))
        candidate = national[:-4] + tail
        number = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(candidate)
        )
        if phonenumbers.number_type(number) in _MOBILE:
            pool.append(
                (
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
                )
            )
    return pool


def _free_digits(region: str, widest: int = 6) -> int:
    """How many trailing digits of the region's example mobile can vary and stay valid.

    Checked on a sample of tails, so suffixes of that width give valid, distinct numbers
    without running phonenumbers on every generated person.
    """
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    check = random.Random(region)
    for width in range(widest, 3, -1):
        tails = [f"{check.randrange(10**width):0{width}d}" for _ in range(60)]
        if all(
            phonenumbers.number_type(
                phonenumbers.PhoneNumber(
                    country_code=example.country_code,
                    national_number=int(national[:-width] + tail),
                )
            )
            in _MOBILE
            for tail in tails
        ):
            return width
    return 4


def _with_tail(text: str, tail: str) -> str:
    """``text`` with its last len(tail) digits replaced, keeping spaces and punctuation."""
    chars = list(text)
    position = len(chars)
    for digit in reversed(tail):
        position -= 1
        while position >= 0 and not chars[position].isdigit():
            position -= 1
        if position < 0:
            break
        chars[position] = digit
    return "".join(chars)


def people(n: int, *, seed: int = 7, now: dt.datetime | None = None) -> Iterator[FakePerson]:
    """``n`` distinct people. Emails are unique (a running number breaks ties)."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    regions = list(REGIONS)
    weights = list(REGIONS.values())
    pools = {region: _mobile_pool(region, rng) for region in regions}
    widths = {region: _free_digits(region) for region in regions}
    for index in range(n):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        region = rng.choices(regions, weights)[0]
        e164, national = rng.choice(pools[region])
        # Vary the subscriber digits (a scrambled running number) so phones are distinct
        # within a region up to 10**width people (a million for most regions).
        width = widths[region]
        suffix = f"{index * 7919 % 10**width:0{width}d}"
        e164 = e164[:-width] + suffix
        national = _with_tail(national, suffix)
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}{index}@{rng.choice(DOMAINS)}"
        created = now - dt.timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        tags = rng.sample(TAGS, k=rng.choice((0, 0, 1, 1, 2, 3)))
        yield FakePerson(
            email=email,
            phone=e164,
            phone_region=region,
            national_phone=national,
            first_name=first,
            last_name=last,
            created_at=created,
            tags=tags,
            lead_score=rng.randint(0, 100),
            company=rng.choice(COMPANIES),
        )
