// Money as the contracts carry it (google.type.Money: whole units plus nanos) and as people read
// and type it. Amounts are kept as bigints of minor units (cents, yen, fils), as the services keep
// them, because a float cannot hold 0.10 exactly and refunds must add up to the cent. The table of
// minor-unit exponents is services/runtime/money.py's (tests/money.test.ts compares the two), so
// the console shows each currency with its own number of decimals and refuses the prices the
// server refuses, before anything is sent.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Money, MoneySchema } from "./gen/google/type/money_pb";

/** A price per seat is at most this many whole units of its currency (events' rule). */
export const MAX_PRICE_MAJOR = 1_000_000n;

const EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF";
const EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND";
const EXPONENT_4 = "UYW";
const EXPONENT_2 = `
  AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
  CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL
  HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT
  MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB
  SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH
  USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
`;

/** ISO 4217 codes the services accept, with the digits after their decimal point. */
export const CURRENCY_EXPONENTS: ReadonlyMap<string, number> = new Map(
  (
    [
      [EXPONENT_0, 0],
      [EXPONENT_2, 2],
      [EXPONENT_3, 3],
      [EXPONENT_4, 4],
    ] as const
  ).flatMap(([codes, digits]) =>
    codes
      .trim()
      .split(/\s+/)
      .map((code) => [code, digits] as const),
  ),
);

/** Every accepted code, in alphabetical order (for pickers). */
export const CURRENCIES: string[] = [...CURRENCY_EXPONENTS.keys()].sort();

const NANOS_PER_UNIT = 1_000_000_000n;

export function isKnownCurrency(code: string): boolean {
  return CURRENCY_EXPONENTS.has(code);
}

/** Digits after the decimal point; a code the console does not know is shown with two. */
export function exponentOf(currency: string): number {
  return CURRENCY_EXPONENTS.get(currency) ?? 2;
}

function scaleOf(currency: string): bigint {
  return 10n ** BigInt(exponentOf(currency));
}

/** An amount: `minor` units of `currency`. */
export interface Amount {
  minor: bigint;
  currency: string;
}

/** A Money from the wire as minor units (nanos below one minor unit cannot occur: the server refuses them). */
export function amountOf(money: Money): Amount {
  const scale = scaleOf(money.currencyCode);
  return {
    minor: money.units * scale + BigInt(money.nanos) / (NANOS_PER_UNIT / scale),
    currency: money.currencyCode,
  };
}

/** An amount as the wire's Money: units and nanos of the same sign. */
export function moneyOf(amount: Amount): MessageInitShape<typeof MoneySchema> {
  const scale = scaleOf(amount.currency);
  const negative = amount.minor < 0n;
  const size = negative ? -amount.minor : amount.minor;
  const sign = negative ? -1n : 1n;
  return {
    currencyCode: amount.currency,
    units: sign * (size / scale),
    nanos: Number(sign * (size % scale) * (NANOS_PER_UNIT / scale)),
  };
}

/** The amount as a plain decimal ("1234.50", "3000"), for inputs and exact formatting. */
export function decimalText(amount: Amount): string {
  const digits = exponentOf(amount.currency);
  const negative = amount.minor < 0n;
  const text = (negative ? -amount.minor : amount.minor).toString().padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, -digits) : text;
  const fraction = digits ? `.${text.slice(-digits)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

const formatters = new Map<string, Intl.NumberFormat>();

/** For people, in their language's number format: "€1,234.50", "1 234,50 €", "¥3,000". */
export function formatAmount(amount: Amount, language: string): string {
  const key = `${language}:${amount.currency}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    const digits = exponentOf(amount.currency);
    formatter = new Intl.NumberFormat(language, {
      style: "currency",
      currency: amount.currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    formatters.set(key, formatter);
  }
  // A decimal string keeps every digit exact, however large the amount.
  return formatter.format(decimalText(amount) as Intl.StringNumericLiteral);
}

export function formatMoney(money: Money | undefined, language: string): string {
  return money ? formatAmount(amountOf(money), language) : "";
}

export function isZero(money: Money | undefined): boolean {
  return !money || (money.units === 0n && money.nanos === 0);
}

export type AmountProblem = "format" | "digits" | "zero" | "tooLarge";

/**
 * What a person typed ("25", "12.50", "12,50", "1 000") as minor units of `currency`, or what is
 * wrong with it: not a plain non-negative number, more decimals than the currency has, zero when
 * zero is not allowed, above `maxMajor` whole units.
 */
export function parseAmount(
  text: string,
  currency: string,
  options: { maxMajor?: bigint; allowZero?: boolean } = {},
): { amount: Amount } | { problem: AmountProblem } {
  const compact = text.replace(/[\s\u00a0\u202f']/g, "");
  const match = /^(\d+)(?:[.,](\d+))?$/.exec(compact);
  if (!match) return { problem: "format" };
  const digits = exponentOf(currency);
  const fraction = match[2] ?? "";
  if (fraction.length > digits) return { problem: "digits" };
  const minor = BigInt(match[1] + fraction.padEnd(digits, "0"));
  if (minor === 0n && !options.allowZero) return { problem: "zero" };
  if (options.maxMajor !== undefined && minor > options.maxMajor * scaleOf(currency)) {
    return { problem: "tooLarge" };
  }
  return { amount: { minor, currency } };
}
