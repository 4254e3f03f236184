import { describe, expect, it } from "vitest";
import { translator } from "../src/i18n";
import { en, type Message } from "../src/i18n/en";
import { ru } from "../src/i18n/ru";

function placeholders(message: Message): string[] {
  const texts = typeof message === "string" ? [message] : Object.values(message);
  return [
    ...new Set(texts.flatMap((text) => [...(text ?? "").matchAll(/\{(\w+)\}/g)].map((match) => match[1]))),
  ].sort();
}

describe("dictionaries", () => {
  it("use the same placeholders in Russian as in English", () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(ru[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it("give Russian plurals all their forms", () => {
    for (const [key, message] of Object.entries(ru)) {
      if (typeof message !== "string") {
        expect(Object.keys(message).sort(), key).toEqual(["few", "many", "one", "other"]);
      }
    }
  });

  it("leave no message empty", () => {
    for (const [key, message] of [...Object.entries(en), ...Object.entries(ru)]) {
      const texts = typeof message === "string" ? [message] : Object.values(message);
      for (const text of texts) expect((text ?? "").trim(), key).not.toBe("");
    }
  });
});

describe("translate", () => {
  it("chooses Russian plural forms by count", () => {
    const t = translator("ru");
    expect(t("booking.seats", { count: 1 })).toBe("1 место");
    expect(t("booking.seats", { count: 3 })).toBe("3 места");
    expect(t("booking.seats", { count: 5 })).toBe("5 мест");
    expect(t("booking.seats", { count: 21 })).toBe("21 место");
  });

  it("chooses English plural forms and fills placeholders", () => {
    const t = translator("en");
    expect(t("event.seatsOf", { count: 1, capacity: 30 })).toBe("1 of 30 seats left");
    expect(t("event.seatsLeft", { count: 1 })).toBe("1 seat left");
    expect(t("event.seatsLeft", { count: 1200 })).toBe("1,200 seats left");
    expect(t("signIn.already", { name: "Ada" })).toBe("You are signed in as Ada.");
  });
});
