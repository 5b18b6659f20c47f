"""REST methods crm.item.productrow.* (Smart Invoice rows, ownerType SI)."""
from __future__ import annotations

from sandbox.bitrix24 import smart_invoice as store
from sandbox.bitrix24.crm_store import dict_param
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.methods_item import item_id
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.values import real_number


def _owner(ctx: CallContext, params: dict) -> dict:
    """The Smart Invoice behind ownerType SI / ownerId."""
    if str(params.get("ownerType", "")).upper() != "SI":
        raise RestError(400, "INVALID_ARG_VALUE", "Only ownerType SI (Smart Invoice) is modelled")
    return store.get(ctx.portal, item_id({"id": params.get("ownerId")}))


def _number(raw: dict, key: str, default: float | None) -> float | None:
    """A product row number; anything but a number is refused rather than stored as NaN or text."""
    if raw.get(key) in (None, ""):
        return default
    number = real_number(raw[key])
    if number is None:
        raise RestError(400, "INVALID_ARG_VALUE", f"Invalid value for product row field {key!r}")
    return float(number)


def _prices(price: float, tax_rate: float | None, discount_type: int, rate: float, amount: float) -> dict:
    """The derived unit prices (DOCS crm/data-types.md § product row): `price` includes discount and tax."""
    exclusive = price / (1 + (tax_rate or 0.0) / 100)
    if discount_type == 1:
        netto = exclusive + amount
    else:
        netto = exclusive / (1 - rate / 100) if rate < 100 else exclusive
    brutto = netto * (1 + (tax_rate or 0.0) / 100)
    return {"priceExclusive": round(exclusive, 2), "priceNetto": round(netto, 2), "priceBrutto": round(brutto, 2),
            "discountSum": round(netto - exclusive, 2) if discount_type == 2 else amount}


def _row(ctx: CallContext, owner_id: int, raw: dict, sort: int) -> dict:
    """A stored product row with the computed prices."""
    num = lambda key, default: _number(raw, key, default)  # noqa: E731
    price, qty = num("price", 0.0), num("quantity", 1.0)
    whole = {k: int(num(k, d)) for k, d in (("productId", 0), ("discountTypeId", 2), ("measureCode", 796),
                                             ("sort", sort))}
    tax_rate, rate = num("taxRate", None), num("discountRate", 0.0)
    prices = _prices(price, tax_rate, whole["discountTypeId"], rate, num("discountSum", 0.0))
    return {"id": ctx.portal.next_id("product_row", 1), "ownerId": owner_id, "ownerType": "SI",
            "productId": whole["productId"], "productName": str(raw.get("productName") or ""),
            "price": price, "priceAccount": price, "priceExclusive": prices["priceExclusive"],
            "priceNetto": prices["priceNetto"], "priceBrutto": prices["priceBrutto"], "quantity": qty,
            "discountTypeId": whole["discountTypeId"], "discountRate": rate, "discountSum": prices["discountSum"],
            "taxRate": tax_rate, "taxIncluded": str(raw.get("taxIncluded") or "N"), "customized": "Y",
            "measureCode": whole["measureCode"], "measureName": str(raw.get("measureName") or "pcs"),
            "sort": whole["sort"], "type": 1}


@method("crm.item.productrow.set")
def productrow_set(ctx: CallContext, params: dict) -> dict:
    """Replace all rows; totals are recalculated (DOCS product-rows)."""
    item = _owner(ctx, params)
    raw_rows = params.get("productRows", [])
    raw_rows = list(raw_rows.values()) if isinstance(raw_rows, dict) else raw_rows
    if not isinstance(raw_rows, list) or not all(isinstance(r, dict) for r in raw_rows):
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'productRows' must be an array of objects")
    rows = [_row(ctx, item["id"], r, (i + 1) * 10) for i, r in enumerate(raw_rows)]
    ctx.portal.entities.setdefault("product_rows", {})[item["id"]] = rows
    if item["isManualOpportunity"] != "Y":
        # isManualOpportunity N ("automatic", crm-item-add.md): the amount and tax follow the rows.
        total = round(sum(r["price"] * r["quantity"] for r in rows), 2)
        tax = round(sum((r["price"] - r["priceExclusive"]) * r["quantity"] for r in rows), 2)
        store.update(ctx.state, ctx.sender, ctx.portal, item["id"], {"opportunity": total, "taxValue": tax},
                     ctx.user_id)
    return ok({"productRows": rows})


@method("crm.item.productrow.list")
def productrow_list(ctx: CallContext, params: dict) -> dict:
    """Rows of one owner, selected by filter `=ownerType`/`=ownerId`."""
    filter_ = dict_param(params, "filter", False)
    owner = {"ownerType": filter_.get("=ownerType", filter_.get("ownerType")),
             "ownerId": filter_.get("=ownerId", filter_.get("ownerId"))}
    item = _owner(ctx, owner)
    return ok({"productRows": ctx.portal.entities.get("product_rows", {}).get(item["id"], [])})
