"""The sample company's transaction history, in creation order, as data (days before `today`)."""
from __future__ import annotations

from dataclasses import dataclass, field

# Ids used by transactions the sandbox does not model (estimate 100 linked from invoice 1037,
# deposit 121 linked from the real payments): never handed to a generated transaction.
RESERVED_TXN_IDS = frozenset({100, 121})

# (item Id, Qty, UnitPrice or None for the catalogue price)
LINE_SETS: dict[str, tuple[tuple[str, float, float | None], ...]] = {
    "design_install": (("4", 4, None), ("7", 5, None)),
    "pest": (("10", 2, None),),
    "design10": (("4", 10, None),),
    "garden": (("6", 4, None),),
    "design": (("4", 3, None),),
    "multi": (("5", 1, None), ("11", 1, None), ("16", 10, None), ("17", 6, None)),
    "fountain": (("5", 1, None), ("11", 1, None), ("3", 5, None)),
    "repairs": (("9", 3, None), ("8", 12, None)),
    "install": (("7", 6, None), ("18", 2, None)),
    "sod_soil": (("14", 20, None), ("15", 8, None)),
    "hours": (("2", 6, None),),
    # invoices the real 2023 payments point at (amounts from their LineEx txnOpenBalance)
    "inv42": (("8", 5, None),),                                   # 75 + 8 % tax = 81.00, DocNumber 1013
    "inv63": (("6", 2, 40),),                                     # 80.00, DocNumber 1017
    "inv67": (("4", 3, None), ("7", 4, None), ("10", 1, 34)),     # 459.00, DocNumber 1021
}


@dataclass(frozen=True)
class Inv:
    """A generated invoice: who, when, what, and what happens to it later."""

    key: str
    customer: int
    days_ago: int
    lines: str
    tax: bool = False
    percent_off: float | None = None
    amount_off: float | None = None
    fixed_id: int | None = None
    doc: str | None = None
    sent: bool = False
    needs_sending: bool = False
    void_days_ago: int | None = None
    void_note: str | None = None
    delete_days_ago: int | None = None
    terms: int = 30


@dataclass(frozen=True)
class Pay:
    """A payment on an invoice (by key): an amount, or a fraction of the open balance (1.0 settles it)."""

    invoice: str
    days_ago: int
    fraction: float = 1.0
    amount: float | None = None
    fixed_id: int | None = None


@dataclass(frozen=True)
class Real:
    """A real fixture transaction (invoice or payment by Id), re-dated; `backdate` = days TxnDate precedes creation."""

    txn_id: int
    days_ago: int
    backdate: int = 0
    void_days_ago: int | None = None
    delete_days_ago: int | None = None
    options: dict = field(default_factory=dict)


PLAN: tuple[Inv | Pay | Real, ...] = (
    Inv("o1", 18, 150, "design_install"),
    Real(12, 140, backdate=9),
    Inv("p1", 20, 138, "pest"),
    Inv("o2", 71, 135, "design10", percent_off=10),
    Inv("v1", 5, 133, "garden", void_days_ago=131),
    Inv("d1", 11, 131, "design", delete_days_ago=20),
    Inv("p2", 73, 130, "multi", tax=True, amount_off=25.0),
    Inv("i42", 26, 128, "inv42", tax=True, fixed_id=42, doc="1013"),
    Pay("p1", 125),
    Pay("12", 120, amount=694.0, fixed_id=61),
    Inv("i63", 25, 116, "inv63", fixed_id=63, doc="1017"),
    Inv("i67", 1, 112, "inv67", fixed_id=67, doc="1021"),
    Inv("pp1", 74, 110, "design_install"),
    Inv("o3", 9, 105, "fountain", tax=True),
    Pay("p2", 102),
    Inv("o4", 83, 100, "repairs", tax=True, percent_off=5),
    Real(96, 98, backdate=20),
    Pay("pp1", 97, fraction=0.5),
    Real(98, 96),
    Inv("v2", 75, 94, "design", void_days_ago=60, void_note="Duplicate invoice"),
    Real(101, 93),
    Inv("pp2", 23, 90, "design"),
    Inv("p3", 80, 88, "garden"),
    Inv("o5", 76, 85, "install"),
    Pay("p3", 80),
    Inv("pp3", 86, 78, "sod_soil", tax=True),
    Inv("d2", 13, 76, "hours", delete_days_ago=15),
    Pay("pp2", 72, fraction=0.3),
    Inv("o6", 64, 68, "pest"),
    Inv("p4", 85, 66, "multi", tax=True),
    Pay("pp3", 62, fraction=0.4),
    Inv("o7", 72, 60, "design", terms=15),
    Inv("v3", 17, 58, "hours", void_days_ago=57),
    Pay("p4", 55),
    Real(116, 52),
    Real(119, 27),
    Real(120, 26),
    Inv("s1", 2, 26, "pest", sent=True),
    Real(128, 25),
    Real(129, 24),
    Real(130, 24),
    Inv("s2", 71, 23, "design_install", sent=True),
    Inv("pp4", 7, 22, "fountain", tax=True),
    Inv("u1", 73, 21, "garden", needs_sending=True),
    Inv("s3", 74, 20, "design", sent=True),
    Inv("p5", 14, 19, "install", sent=True),
    Inv("d3", 2, 19, "pest", delete_days_ago=18),
    Inv("s4", 77, 18, "design_install", sent=True, terms=60),
    Inv("u2", 78, 17, "hours"),
    Inv("s5", 79, 16, "design10", sent=True, percent_off=15),
    Inv("pp5", 82, 15, "install", sent=True),
    Inv("v4", 26, 14, "garden", void_days_ago=13),
    Inv("s6", 84, 13, "pest", sent=True, percent_off=10),
    Inv("u3", 83, 12, "repairs", tax=True, needs_sending=True),
    Real(239, 11),
    Inv("s7", 12, 10, "sod_soil", tax=True, sent=True),
    Pay("pp4", 10, fraction=0.25),
    Inv("d4", 15, 9, "design", delete_days_ago=8),
    Pay("pp5", 8, fraction=0.5),
    Inv("p6", 16, 8, "hours"),
    Real(264, 7, void_days_ago=6),
    Pay("p5", 6),
    Real(266, 5, delete_days_ago=5),
    Inv("u4", 58, 4, "garden"),
    Inv("d5", 29, 4, "design", delete_days_ago=2),
    Inv("u5", 87, 3, "hours", needs_sending=True),
    Pay("p6", 3),
)
