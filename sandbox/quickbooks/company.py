"""Seed data for a sandbox QuickBooks realm: Intuit's sample company and a large-company generator.

Pure functions, no I/O beyond reading the real fixture records stored in `data/`.
"""
from __future__ import annotations

from sandbox.quickbooks.company_generator import generate_company
from sandbox.quickbooks.company_records import CompanyData
from sandbox.quickbooks.company_sample import sample_company
from sandbox.quickbooks.company_totals import invoice_totals
from sandbox.quickbooks.currencies import CURRENCIES, HOME_CURRENCY

__all__ = ["CURRENCIES", "HOME_CURRENCY", "CompanyData", "generate_company", "invoice_totals", "sample_company"]
