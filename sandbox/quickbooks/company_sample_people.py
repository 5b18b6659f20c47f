"""The sample company's customers: the 41 real ones, re-dated, plus every kind the real list lacks."""
from __future__ import annotations

from datetime import date, timedelta

from sandbox.quickbooks.company_build import make_customer
from sandbox.quickbooks.company_records import load_json
from sandbox.quickbooks.company_time import at, shift_stamp, stamp

REAL_CUSTOMERS_FILE = "customers_query_all_41__minimul_sandbox_2020-09-29.json"
# The real list was captured on 2020-09-29; that day is placed 400 days before `today`.
REAL_CAPTURE_DAY = date(2020, 9, 29)
REAL_CAPTURE_DAYS_AGO = 400


def _addr(addr_id: int, line1: str, city: str, region: str, postal: str, country: str | None) -> dict:
    """A PhysicalAddress shaped like the real customers' (Country only when not the home country)."""
    address = {"Id": str(addr_id), "Line1": line1, "City": city}
    if country:
        address["Country"] = country
    address.update({"CountrySubDivisionCode": region, "PostalCode": postal, "Lat": "INVALID", "Long": "INVALID"})
    return address


# (Id, DisplayName, options): companies, persons, sub-customers (two levels), inactive ones,
# apostrophes, non-ASCII names, and customers billed in EUR, GBP and CAD.
EXTRA_CUSTOMERS: tuple[tuple[int, str, dict], ...] = (
    (71, "Müller GmbH", dict(company="Müller GmbH", given="Jürgen", family="Müller", currency="EUR",
                             email="j.mueller@mueller-gmbh.de", phone="+49 30 1234567",
                             address=_addr(31, "Friedrichstraße 12", "Berlin", "BE", "10117", "Germany"))),
    (72, "Tomáš Šťastný", dict(given="Tomáš", family="Šťastný", email="tomas.stastny@example.cz",
                               phone="(312) 555-0148",
                               address=_addr(32, "1400 N Lake Shore Dr", "Chicago", "IL", "60610", None))),
    (73, "東京商事", dict(company="東京商事株式会社", given="Ken", family="Sato", email="info@tokyo-shoji.example.jp",
                        phone="+81 3-1234-5678",
                        address=_addr(33, "1-1 Marunouchi, Chiyoda-ku", "Tokyo", "13", "100-0005", "Japan"))),
    (74, "O'Brien & Sons Ltd", dict(company="O'Brien & Sons Ltd", given="Patrick", family="O'Brien",
                                    currency="GBP", email="accounts@obrien-sons.co.uk", phone="+44 20 7946 0321",
                                    address=_addr(34, "22 Baker Street", "London", "LND", "W1U 3BW",
                                                  "United Kingdom"))),
    (75, "Siobhán O'Connor", dict(given="Siobhán", family="O'Connor", currency="EUR", email="siobhan@oconnor.ie",
                                  address=_addr(35, "8 Merrion Square", "Dublin", "D", "D02 XY45", "Ireland"))),
    (76, "Maple Leaf Landscaping Inc.", dict(company="Maple Leaf Landscaping Inc.", given="Émilie",
                                             family="Tremblay", currency="CAD", email="emilie@mapleleaf.example.ca",
                                             phone="(416) 555-0199",
                                             address=_addr(36, "100 King St W", "Toronto", "ON", "M5X 1A9",
                                                           "Canada"))),
    (77, "Kensington Garden Project", dict(parent=74, company="O'Brien & Sons Ltd", currency="GBP",
                                           email="accounts@obrien-sons.co.uk")),
    (78, "Kensington Phase 2", dict(parent=77, company="O'Brien & Sons Ltd", currency="GBP")),
    (79, "Filiale Köln", dict(parent=71, company="Müller GmbH", currency="EUR", email="koeln@mueller-gmbh.de")),
    # QuickBooks renames a customer made inactive to "<name> (deleted)" (community reports, not in the
    # reference: UNCERTAIN), so one inactive customer carries the suffix and one does not.
    (80, "Greenfield Nursery (deleted)", dict(company="Greenfield Nursery", active=False,
                                              email="orders@greenfield.example.com", phone="(650) 555-0111")),
    (81, "Paul Hendricks", dict(given="Paul", family="Hendricks", active=False, phone="(650) 555-0112")),
    (82, "Zoë Lefèvre", dict(given="Zoë", family="Lefèvre", currency="CAD", email="zoe.lefevre@example.ca",
                             address=_addr(37, "1200 Rue Sherbrooke O", "Montréal", "QC", "H3A 1H6", "Canada"))),
    (83, "D'Angelo's Pizzeria", dict(company="D'Angelo's Pizzeria", given="Marco", family="D'Angelo",
                                     email="marco@dangelos.example.com", phone="(650) 555-0133", taxable=True,
                                     address=_addr(38, "410 El Camino Real", "Menlo Park", "CA", "94025", None))),
    (84, "Mark Cho Jr.", dict(given="Mark", family="Cho", email="mark.jr@cho.example.com", phone="(650) 554-1480")),
    (85, "Lakeside Renovation", dict(parent=13, email="John@Melton.com", taxable=True)),
    (86, "Ana María Núñez", dict(given="Ana María", family="Núñez", phone="(408) 555-0177", taxable=True,
                                 address=_addr(39, "77 Alameda", "San José", "CA", "95126", None))),
    (87, "Weiskopf Consulting (2)", dict(company="Weiskopf Consulting", given="Nicola", family="Weiskopf",
                                         email="nicola@weiskopf.example.com", notes="Second account, same firm.")),
)


def real_customers(today: date) -> list[dict]:
    """The 41 real customers, every MetaData time moved so the capture day sits 400 days before today."""
    days = (today - timedelta(days=REAL_CAPTURE_DAYS_AGO) - REAL_CAPTURE_DAY).days
    customers = load_json(REAL_CUSTOMERS_FILE)["QueryResponse"]["Customer"]
    for customer in customers:
        meta = customer["MetaData"]
        customer["MetaData"] = {"CreateTime": shift_stamp(meta["CreateTime"], days),
                                "LastUpdatedTime": shift_stamp(meta["LastUpdatedTime"], days)}
    return sorted(customers, key=lambda customer: int(customer["Id"]))


def extra_customers(today: date, existing: list[dict]) -> list[dict]:
    """The added customers, created one every 12 days from 380 days before today."""
    by_id = {int(customer["Id"]): customer for customer in existing}
    added = []
    for index, (customer_id, display, options) in enumerate(EXTRA_CUSTOMERS):
        options = dict(options)
        parent_id = options.pop("parent", None)
        created = stamp(at(today - timedelta(days=380 - 12 * index), 9 * 3600 + 17 * 60 + index * 97))
        parent = by_id[parent_id] if parent_id else None
        if parent is not None and "address" not in options and "BillAddr" in parent:
            options["address"] = {**parent["BillAddr"], "Id": str(40 + index)}
        customer = make_customer(customer_id, created, display, parent=parent, **options)
        by_id[customer_id] = customer
        added.append(customer)
    return added
