"""A large, deterministic company: the sample's kinds and statuses in a realistic mix, Ids contiguous from 1."""
from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import accumulate

from sandbox.quickbooks.company_build import (apply_payment, make_customer, make_invoice, make_payment,
                                              mark_needs_sending, mark_sent, settle_customer_balances, tombstone,
                                              void_invoice)
from sandbox.quickbooks.company_lists import make_accounts, make_terms
from sandbox.quickbooks.company_records import (ITEM_CATALOG, CompanyData, discount_line,
                                                make_company_info, make_items, sales_line)
from sandbox.quickbooks.company_time import MonotonicClock, at, stamp
from sandbox.quickbooks.company_totals import money
from sandbox.quickbooks.currencies import exchange_rate
from sandbox.quickbooks.customers import DELETED_SUFFIX

GIVEN = ("Amy", "Bill", "Grace", "Diego", "Kirby", "Sasha", "Geeta", "Lisa", "Jeff", "John", "Kate", "Karen",
         "Mark", "Kathy", "Jeff", "Stephanie", "Shara", "Russ", "Travis", "Dan", "Whitney", "Nicola", "Jürgen",
         "Tomáš", "Siobhán", "Émilie", "Zoë", "Ana María", "Søren", "Łukasz", "Chloé", "José", "Björn", "Mei",
         "Hiroshi", "Aoife", "Seán", "Nadia", "Olga", "Yusuf")
FAMILY = ("Lauterbach", "Lucchini", "Pariente", "Rodriguez", "Freeman", "Tillou", "Kalapatapu", "Gevelber",
          "Chin", "Melton", "Whelan", "Pye", "Cho", "Paulsen", "Rago", "Martini", "Barnett", "Sonnenschein",
          "Waldron", "Wilks", "Brewer", "Weiskopf", "Müller", "Šťastný", "O'Connor", "Tremblay", "Lefèvre",
          "Núñez", "O'Brien", "D'Angelo", "Kowalski", "Sørensen", "García", "Öztürk", "Nakamura", "Smith")
TRADE = ("Landscaping", "Sporting Goods", "Bakery", "Design", "Consulting", "Photography", "Diner", "Cakes",
         "Medical Supplies", "Travel", "Windsurf Shop", "Nursery", "Garden Center", "Pizzeria", "Builders")
FORMS = ("{f}'s {t}", "{f} {t}", "{f} & Sons {t}", "{t} by {g}", "{f} {t} GmbH", "{f} {t} Ltd", "{f} {t} Inc.")
CJK = ("東京商事", "大阪物産", "北京贸易", "서울상사", "名古屋園芸", "京都デザイン")
CITIES = (("Bayshore", "CA", "94326"), ("Menlo Park", "CA", "94304"), ("Tucson", "AZ", "85719"),
          ("Maplewood", "NJ", "07040"), ("Palo Alto", "CA", "94303"), ("San Jose", "CA", "95021"))
FOREIGN = {"EUR": ("Berlin", "BE", "10117", "Germany"), "GBP": ("London", "LND", "W1U 3BW", "United Kingdom"),
           "CAD": ("Toronto", "ON", "M5X 1A9", "Canada")}
HISTORY_DAYS = 730
# live-invoice status mix for invoices old enough to be overdue / still inside their terms
OLD_MIX = (("paid", 70), ("partial", 6), ("overdue", 17), ("voided", 3), ("deleted", 4))
NEW_MIX = (("unsent", 28), ("sent", 40), ("paid", 18), ("partial", 6), ("voided", 3), ("deleted", 5))
_MIX_DRAW = {old: ([name for name, _ in mix], list(accumulate(weight for _, weight in mix)))
             for old, mix in ((True, OLD_MIX), (False, NEW_MIX))}
BILLABLE_ITEMS = tuple(item for item in ITEM_CATALOG if item[1] != "Refunds & Allowances")


def _unique(name: str, used: set[str], rng: random.Random) -> str:
    """The name, or a suffixed variant when taken (how people disambiguate duplicates in QuickBooks)."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name} {rng.choice(('Jr.', 'II', 'LLC'))}" if n == 2 else f"{name} ({n})"
    used.add(candidate)
    return candidate


def _customer(rng: random.Random, customer_id: int, created: str, used: set[str], parents: list[dict]) -> dict:
    """One customer of a random kind."""
    roll = rng.random()
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    currency = rng.choice(("EUR", "GBP", "CAD")) if rng.random() < 0.04 else "USD"
    city, region, postal, country = FOREIGN.get(currency) or (*rng.choice(CITIES), None)
    address = {"Id": str(customer_id + 30), "Line1": f"{rng.randint(1, 9999)} {rng.choice(FAMILY)} St.",
               "City": city, **({"Country": country} if country else {}), "CountrySubDivisionCode": region,
               "PostalCode": postal, "Lat": "INVALID", "Long": "INVALID"}
    slug = f"{given}.{family}".lower().replace("'", "").replace(" ", "")
    email = f"{slug}{customer_id}@example.com" if rng.random() < 0.85 else None
    phone = f"(650) 555-{rng.randint(0, 9999):04d}" if rng.random() < 0.8 else None
    active = rng.random() > 0.05
    if roll < 0.12 and parents:
        parent = rng.choice(parents)
        display = _unique(f"{rng.choice(('Project', 'Site', 'Job'))} {rng.randint(1, 999)}", used, rng)
        return make_customer(customer_id, created, display, company=parent.get("CompanyName"), email=email,
                             phone=phone, address=address, currency=parent["CurrencyRef"]["value"], parent=parent,
                             active=active)
    if roll < 0.55:
        company = rng.choice(CJK) if rng.random() < 0.03 else rng.choice(FORMS).format(
            f=family, g=given, t=rng.choice(TRADE))
        display = _unique(company, used, rng)
        # Every fifth company names no person (a company-only customer); the rest have a contact person.
        person = {} if customer_id % 5 == 0 else {"given": given, "family": family}
        return _renamed_if_inactive(make_customer(customer_id, created, display, **person, company=company,
                                                  email=email, phone=phone, address=address, currency=currency,
                                                  active=active))
    display = _unique(f"{given} {family}", used, rng)
    return _renamed_if_inactive(make_customer(
        customer_id, created, display, given=given, family=family, email=email, phone=phone,
        address=address if rng.random() < 0.7 else None, currency=currency, active=active))


def _renamed_if_inactive(customer: dict) -> dict:
    """Half the inactive customers read "<name> (deleted)", as the sample's do (QuickBooks renames a customer
    made inactive, UNCERTAIN: company_sample_people.py), so a client meets both; no random draw is taken."""
    if not customer["Active"] and int(customer["Id"]) % 2 == 0:
        customer["DisplayName"] += DELETED_SUFFIX
        customer["FullyQualifiedName"] += DELETED_SUFFIX
    return customer


def _customers(rng: random.Random, count: int, today: date) -> list[dict]:
    """Customers created in Id order over the three years before the invoice history starts."""
    used: set[str] = set()
    customers: list[dict] = []
    parents: list[dict] = []
    start = at(today - timedelta(days=HISTORY_DAYS + 3 * 365), 8 * 3600)
    step = (3 * 365 * 86400) // max(count, 1)
    for index in range(count):
        customer = _customer(rng, index + 1, stamp(start + timedelta(seconds=index * step)), used, parents)
        customers.append(customer)
        if customer.get("Level", 0) < 2:
            parents.append(customer)
    return customers


def _lines(rng: random.Random, with_tax: bool) -> list[dict]:
    """One to four item lines, sometimes followed by a percent or amount discount."""
    lines = []
    for number in range(1, rng.choice((1, 1, 2, 2, 3, 4)) + 1):
        item = rng.choice(BILLABLE_ITEMS)
        qty = rng.choice((1, 1, 2, 3, 4, 5, 8, 10, 2.5))
        lines.append(sales_line(number, item, qty, item[3] or 10, with_tax and item[5]))
    if rng.random() < 0.08:
        lines.append(discount_line(rng.choice((5, 10, 15)), None))
    elif rng.random() < 0.04:
        cap = int(sum(line["Amount"] for line in lines) // 4)  # a fixed discount never exceeds the lines
        if cap >= 5:
            lines.append(discount_line(None, float(min(rng.choice((5, 10, 25)), cap))))
    return lines


def _status(rng: random.Random, old: bool) -> str:
    """A status drawn from the mix for invoices past their due date or still inside their terms."""
    names, cum_weights = _MIX_DRAW[old]
    return rng.choices(names, cum_weights=cum_weights)[0]


def generate_company(customers: int, invoices: int, *, seed: int = 0, today: date) -> CompanyData:
    """A company with `customers` customers and `invoices` live invoices (plus deleted ones), deterministic per seed."""
    with _collector_paused():
        return _generate(customers, invoices, seed, today)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic GC: its full passes over the ever-growing, cycle-free records were a third of the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _generate(customers: int, invoices: int, seed: int, today: date) -> CompanyData:
    """The company itself (see generate_company)."""
    rng = random.Random(seed)
    people = _customers(rng, customers, today)
    billable = [c for c in people if c["Active"]] or people
    ages = sorted((int(HISTORY_DAYS * rng.random() ** 1.6) + 1 for _ in range(invoices * 21 // 20)), reverse=True)
    live: list[dict] = []
    deleted: list[dict] = []
    pending: list[tuple[int, dict, float]] = []
    clock = MonotonicClock()
    for index, age in enumerate(ages):
        if len(live) == invoices:
            break
        customer = rng.choice(billable)
        created = clock.next(at(today - timedelta(days=age), 8 * 3600), step_seconds=47)
        terms = rng.choice((15, 30, 30, 30, 60))
        status = _status(rng, age > terms)
        if age < 2 and status in ("paid", "partial"):
            status = "unsent"  # a payment needs a later day before today
        with_tax = customer["CurrencyRef"]["value"] == "USD" and rng.random() < 0.4
        invoice = make_invoice(len(live) + 1, str(1001 + index), customer, created.date(), stamp(created),
                               _lines(rng, with_tax), terms_days=terms, with_tax=with_tax,
                               address_id=100000 + index, exchange_rate=_rate(rng, customer))
        if status == "deleted":
            deleted.append(tombstone(f"d{index}", stamp(at(today - timedelta(days=rng.randint(1, 29)), 43200))))
            continue
        if status in ("sent", "paid", "partial") and "BillEmail" in invoice:
            mark_sent(invoice, stamp(created + timedelta(minutes=30)))
        elif status == "unsent" and rng.random() < 0.3:
            mark_needs_sending(invoice)
        if status == "voided":
            invoice = void_invoice(invoice, stamp(created + timedelta(days=1)))
        elif status in ("paid", "partial"):
            pending.append((min(age - 1, rng.randint(1, terms + 10)), invoice, 1.0 if status == "paid" else 0.5))
        live.append(invoice)
    _number_tombstones(deleted, len(live))
    payments = _pay(pending, live, len(live) + len(deleted), today)
    settle_customer_balances(people, live)
    founded = at(today - timedelta(days=HISTORY_DAYS + 3 * 365 + 30), 9 * 3600)
    return CompanyData(company_info=make_company_info(stamp(founded), stamp(founded)), customers=people,
                       items=make_items(stamp(founded)), invoices=live, payments=payments,
                       deleted_invoices=deleted, terms=make_terms(stamp(founded)),
                       accounts=make_accounts(stamp(founded), stamp(founded + timedelta(days=30))))


def _rate(rng: random.Random, customer: dict) -> float | None:
    """A day's exchange rate near the fixed one for foreign-currency customers."""
    code = customer["CurrencyRef"]["value"]
    return None if code == "USD" else round(exchange_rate(code) * (1 + rng.uniform(-0.03, 0.03)), 4)


def _pay(pending: list[tuple[int, dict, float]], live: list[dict], last_id: int, today: date) -> list[dict]:
    """Payments in time order, Ids after every invoice Id; each updates its invoice in `live`."""
    events = []
    for days_after, invoice, fraction in pending:
        created_day = date.fromisoformat(invoice["TxnDate"]) + timedelta(days=days_after)
        events.append((created_day, int(invoice["Id"]), fraction))
    events.sort()
    payments = []
    for number, (day, invoice_id, fraction) in enumerate(events):
        invoice = live[invoice_id - 1]
        when = stamp(at(day, 8 * 3600 + number % 36000))
        amount = float(round(money(invoice["Balance"]) * money(fraction), 2))
        payment = make_payment(last_id + 1 + number, when, day, invoice, amount)
        payments.append(payment)
        live[invoice_id - 1] = apply_payment(invoice, payment)
    return payments


def _number_tombstones(deleted: list[dict], live_count: int) -> None:
    """Deleted invoices take the Ids after the live ones (so live invoices stay 1..N)."""
    for offset, record in enumerate(deleted):
        record["Id"] = str(live_count + offset + 1)
