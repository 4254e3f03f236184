import { describe, expect, it } from "vitest";
import moneyPy from "../../services/runtime/money.py?raw";
import { create } from "@bufbuild/protobuf";
import { MoneySchema } from "../src/gen/google/type/money_pb";
import {
  amountOf,
  CURRENCY_EXPONENTS,
  decimalText,
  formatAmount,
  moneyOf,
  MAX_PRICE_MAJOR,
  parseAmount,
} from "../src/money";

// The services' table, read from their source: `_EXPONENT_<n> = "CODE CODE ..."` (or a """ block).
function serverExponents(): Map<string, number> {
  const table = new Map<string, number>();
  for (const match of moneyPy.matchAll(/^_EXPONENT_(\d) = (?:"""([^"]*)"""|"([^"]*)")/gm)) {
    for (const code of (match[2] ?? match[3]).trim().split(/\s+/)) table.set(code, Number(match[1]));
  }
  return table;
}

describe("currencies", () => {
  it("are the services' own, with the same minor units", () => {
    const server = serverExponents();
    expect(server.size).toBeGreaterThan(150);
    expect(new Map([...CURRENCY_EXPONENTS].sort())).toEqual(new Map([...server].sort()));
  });

  it("and the same price bound", () => {
    expect(moneyPy).toContain(`MAX_PRICE_MAJOR = ${MAX_PRICE_MAJOR.toLocaleString("en").replace(/,/g, "_")}`);
  });
});

describe("amounts", () => {
  it("go between the wire's Money and minor units exactly", () => {
    const euros = create(MoneySchema, { currencyCode: "EUR", units: 12n, nanos: 500_000_000 });
    expect(amountOf(euros)).toEqual({ minor: 1250n, currency: "EUR" });
    expect(moneyOf({ minor: 1250n, currency: "EUR" })).toEqual({
      currencyCode: "EUR",
      units: 12n,
      nanos: 500_000_000,
    });
    expect(moneyOf({ minor: 3000n, currency: "JPY" })).toEqual({
      currencyCode: "JPY",
      units: 3000n,
      nanos: 0,
    });
    expect(moneyOf({ minor: 1234n, currency: "KWD" })).toEqual({
      currencyCode: "KWD",
      units: 1n,
      nanos: 234_000_000,
    });
    expect(moneyOf({ minor: -5n, currency: "EUR" })).toEqual({
      currencyCode: "EUR",
      units: 0n,
      nanos: -50_000_000,
    });
  });

  it("are written with the currency's own decimals, in the reader's language", () => {
    expect(decimalText({ minor: 5n, currency: "EUR" })).toBe("0.05");
    expect(decimalText({ minor: 3000n, currency: "JPY" })).toBe("3000");
    expect(formatAmount({ minor: 123450n, currency: "EUR" }, "en")).toBe("€1,234.50");
    expect(formatAmount({ minor: 123450n, currency: "EUR" }, "ru")).toBe("1\u00a0234,50\u00a0€");
    expect(formatAmount({ minor: 3000n, currency: "JPY" }, "en")).toBe("¥3,000");
    expect(formatAmount({ minor: 1234n, currency: "KWD" }, "en")).toBe("KWD\u00a01.234");
    // Beyond a double's exact integers, still to the cent.
    expect(formatAmount({ minor: 9_007_199_254_740_993n, currency: "USD" }, "en")).toBe(
      "$90,071,992,547,409.93",
    );
  });

  it("are read from what people type, or refused as the server would", () => {
    expect(parseAmount("12.50", "EUR")).toEqual({ amount: { minor: 1250n, currency: "EUR" } });
    expect(parseAmount(" 12,5 ", "EUR")).toEqual({ amount: { minor: 1250n, currency: "EUR" } });
    expect(parseAmount("1 000", "RUB")).toEqual({ amount: { minor: 100000n, currency: "RUB" } });
    expect(parseAmount("12.345", "EUR")).toEqual({ problem: "digits" });
    expect(parseAmount("1.5", "JPY")).toEqual({ problem: "digits" });
    expect(parseAmount("12.345", "KWD")).toEqual({ amount: { minor: 12345n, currency: "KWD" } });
    expect(parseAmount("-3", "EUR")).toEqual({ problem: "format" });
    expect(parseAmount("1e3", "EUR")).toEqual({ problem: "format" });
    expect(parseAmount("0", "EUR")).toEqual({ problem: "zero" });
    expect(parseAmount("0", "EUR", { allowZero: true })).toEqual({ amount: { minor: 0n, currency: "EUR" } });
    expect(parseAmount("1000000", "EUR", { maxMajor: MAX_PRICE_MAJOR })).toEqual({
      amount: { minor: 100_000_000n, currency: "EUR" },
    });
    expect(parseAmount("1000000.01", "EUR", { maxMajor: MAX_PRICE_MAJOR })).toEqual({ problem: "tooLarge" });
  });
});
