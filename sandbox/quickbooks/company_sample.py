"""Intuit's sample company, built on the real fixture records and completed so every kind and status exists."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sandbox.quickbooks.company_build import (apply_payment, make_invoice, make_payment, mark_needs_sending,
                                              mark_sent, settle_customer_balances, tombstone, void_invoice)
from sandbox.quickbooks.company_lists import make_accounts, make_terms
from sandbox.quickbooks.company_records import (ITEM_CATALOG, CompanyData, discount_line, load_json,
                                                load_mjs_object, load_records, make_company_info, make_items,
                                                sales_line)
from sandbox.quickbooks.company_sample_people import extra_customers, real_customers
from sandbox.quickbooks.company_sample_plan import LINE_SETS, PLAN, RESERVED_TXN_IDS, Inv, Pay, Real
from sandbox.quickbooks.company_time import MonotonicClock, at, parse_local, stamp
from sandbox.quickbooks.company_totals import invoice_totals, money
from sandbox.quickbooks.currencies import HOME_CURRENCY, currency_ref

ITEMS_BY_ID = {item[0]: item for item in ITEM_CATALOG}
FIRST_DOC_NUMBER = 1100
FIRST_INVOICE_ADDRESS_ID = 200


def real_transactions() -> dict[int, dict]:
    """Every real invoice and payment the sample builds on, by Id (2023 sandbox, Intuit doc sample, void, delete)."""
    records = load_records("sandbox2023_invoices.jsonl", "invoices")
    records += load_records("sandbox2023_payments_and_credit_memos.jsonl", "payments")
    doc_invoice = load_mjs_object("intuit_doc_invoice_239__pipedream.test-event.mjs")
    doc_invoice.pop("ProjectRef")  # points at a project that is not in this company
    # The 2015 documentation sample predates CurrencyRef on every transaction; today's responses carry it.
    doc_invoice["CurrencyRef"] = currency_ref(HOME_CURRENCY)
    records += [doc_invoice, load_json("invoice_void_response__minimul.json")["Invoice"],
                load_json("invoice_266_read_before_delete__minimul.json")["Invoice"]]
    return {int(record["Id"]): record for record in records}


class SampleBuilder:
    """Replays the plan: allocates transaction Ids and times, builds, pays, sends, voids and deletes."""

    def __init__(self, today: date, customers: list[dict]) -> None:
        self.today = today
        self.customers = {int(c["Id"]): c for c in customers}
        self.real = real_transactions()
        self.clock = MonotonicClock()
        self.invoices: dict[str, dict] = {}
        self.payments: list[dict] = []
        self.deleted: list[dict] = []
        self.last_id = 0
        self.next_doc = FIRST_DOC_NUMBER
        self.next_address = FIRST_INVOICE_ADDRESS_ID

    def when(self, days_ago: int, extra_minutes: int = 0) -> datetime:
        """A wall-clock time `days_ago` days before today, in office hours."""
        return at(self.today - timedelta(days=days_ago), 9 * 3600 + 23 * 60) + timedelta(minutes=extra_minutes)

    def allocate(self, fixed: int | None) -> int:
        """The next transaction Id (QuickBooks shares one sequence across transaction types)."""
        txn_id = fixed if fixed is not None else self.last_id + 1
        while fixed is None and txn_id in RESERVED_TXN_IDS:
            txn_id += 1
        if txn_id <= self.last_id:
            raise ValueError(f"transaction {txn_id} out of creation order")
        self.last_id = txn_id
        return txn_id

    def run(self) -> None:
        """Replay every plan entry in order."""
        upcoming_fixed = [self._fixed_id(entry) for entry in PLAN]
        for index, entry in enumerate(PLAN):
            later = [txn_id for txn_id in upcoming_fixed[index + 1:] if txn_id is not None]
            created = self.clock.next(self.when(entry.days_ago))
            txn_id = self.allocate(self._fixed_id(entry))
            if later and txn_id >= later[0]:
                raise ValueError(f"no free transaction Id before {later[0]}")
            if isinstance(entry, Inv):
                self.add_invoice(entry, txn_id, created)
            elif isinstance(entry, Pay):
                self.add_payment(entry, txn_id, created)
            elif "DueDate" in self.real[txn_id]:
                self.add_real_invoice(entry, created)
            else:
                self.add_real_payment(entry, created)

    @staticmethod
    def _fixed_id(entry: Inv | Pay | Real) -> int | None:
        """The Id an entry must keep, if any."""
        return entry.txn_id if isinstance(entry, Real) else entry.fixed_id

    def add_invoice(self, entry: Inv, txn_id: int, created: datetime) -> None:
        """Build a generated invoice, then send, void or delete it as planned."""
        customer = self.customers[entry.customer]
        lines = [sales_line(n, ITEMS_BY_ID[item_id], qty, price if price is not None else ITEMS_BY_ID[item_id][3],
                            entry.tax and ITEMS_BY_ID[item_id][5])
                 for n, (item_id, qty, price) in enumerate(LINE_SETS[entry.lines], start=1)]
        if entry.percent_off is not None or entry.amount_off is not None:
            lines.append(discount_line(entry.percent_off, entry.amount_off))
        doc = entry.doc or str(self.next_doc)
        self.next_doc += entry.doc is None
        self.next_address += 1
        invoice = make_invoice(txn_id, doc, customer, created.date(), stamp(created), lines,
                               terms_days=entry.terms, with_tax=entry.tax, address_id=self.next_address)
        if entry.sent:
            mark_sent(invoice, stamp(created + timedelta(hours=2)))
        elif entry.needs_sending:
            mark_needs_sending(invoice)
        self.finish(entry.key, invoice, entry.void_days_ago, entry.delete_days_ago, entry.void_note)

    def finish(self, key: str, invoice: dict, void_days_ago: int | None, delete_days_ago: int | None,
               note: str | None = None) -> None:
        """Keep the invoice, voided or deleted at its planned later time."""
        if void_days_ago is not None:
            invoice = void_invoice(invoice, stamp(self.when(void_days_ago, 31)), note)
        if delete_days_ago is not None:
            deleted_at = max(self.when(delete_days_ago, 47), parse_local(invoice["MetaData"]["CreateTime"])
                             + timedelta(minutes=4))
            self.deleted.append(tombstone(invoice["Id"], stamp(deleted_at)))
            return
        self.invoices[key] = invoice

    def add_real_invoice(self, entry: Real, created: datetime) -> None:
        """A real invoice, re-dated and reset to unpaid so its real payments can be replayed onto it."""
        invoice = dict(self.real[entry.txn_id])
        txn_date = created.date() - timedelta(days=entry.backdate)
        invoice["MetaData"] = {"CreateTime": stamp(created), "LastUpdatedTime": stamp(created)}
        invoice["TxnDate"] = txn_date.isoformat()
        invoice["DueDate"] = (txn_date + timedelta(days=30)).isoformat()
        invoice["LinkedTxn"] = [link for link in invoice["LinkedTxn"] if link["TxnType"] != "Payment"]
        if invoice.get("PrivateNote", "").startswith("Voided"):
            invoice["MetaData"]["LastUpdatedTime"] = stamp(self.when(entry.void_days_ago or entry.days_ago, 31))
            self.invoices[invoice["Id"]] = invoice
            return
        invoice["SyncToken"] = "0"
        self.finish(invoice["Id"], invoice_totals(invoice, paid=0), entry.void_days_ago, entry.delete_days_ago)

    def add_real_payment(self, entry: Real, created: datetime) -> None:
        """A real payment, re-dated, applied to its (real or reconstructed) invoice."""
        payment = dict(self.real[entry.txn_id])
        payment["MetaData"] = {"CreateTime": stamp(created), "LastUpdatedTime": stamp(created)}
        payment["TxnDate"] = created.date().isoformat()
        self.record_payment(payment)

    def add_payment(self, entry: Pay, txn_id: int, created: datetime) -> None:
        """A generated payment of an amount or a fraction of the open balance."""
        invoice = self.invoices[entry.invoice]
        balance = money(invoice["Balance"])
        amount = entry.amount if entry.amount is not None else float(round(balance * money(entry.fraction), 2))
        self.record_payment(make_payment(txn_id, stamp(created), created.date(), invoice, amount))

    def record_payment(self, payment: dict) -> None:
        """Keep the payment and link every invoice it pays back to it."""
        self.payments.append(payment)
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                key = next(k for k, inv in self.invoices.items() if inv["Id"] == link["TxnId"])
                self.invoices[key] = apply_payment(self.invoices[key], {**payment, "TotalAmt": line["Amount"]})


def sample_company(today: date) -> CompanyData:
    """Intuit's sample company as a realm seed, every date placed relative to `today`."""
    customers = real_customers(today)
    customers += extra_customers(today, customers)
    builder = SampleBuilder(today, customers)
    builder.run()
    invoices = sorted(builder.invoices.values(), key=lambda invoice: int(invoice["Id"]))
    settle_customer_balances(customers, invoices)
    founded = parse_local(min(c["MetaData"]["CreateTime"] for c in customers)) - timedelta(days=20)
    info = make_company_info(stamp(founded), stamp(builder.when(200)))
    return CompanyData(company_info=info, customers=customers, items=make_items(stamp(founded + timedelta(days=1))),
                       invoices=invoices, payments=sorted(builder.payments, key=lambda p: int(p["Id"])),
                       deleted_invoices=sorted(builder.deleted, key=lambda t: int(t["Id"])),
                       terms=make_terms(stamp(founded)),
                       accounts=make_accounts(stamp(founded), stamp(builder.when(300))))

