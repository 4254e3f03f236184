import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { en, type Message, type MessageKey } from "./en";
import { ru } from "./ru";

export type { MessageKey } from "./en";
export type Language = "en" | "ru";
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

export const LANGUAGES: { code: Language; name: string }[] = [
  { code: "en", name: "English" },
  { code: "ru", name: "Русский" },
];

const DICTIONARIES: Record<Language, Record<MessageKey, Message>> = { en, ru };

// The one thing the console remembers between visits (never tokens).
const STORAGE_KEY = "seatmesh.language";

export function isLanguage(value: unknown): value is Language {
  return value === "en" || value === "ru";
}

export function rememberedLanguage(): Language | null {
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    return isLanguage(stored) ? stored : null;
  } catch {
    return null;
  }
}

export function rememberLanguage(language: Language): void {
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, language);
  } catch {
    // Storage can be disabled; the choice then lasts for this visit only.
  }
}

/** The remembered choice, else the browser's first language we speak, else English. */
export function initialLanguage(preferred: readonly string[]): Language {
  const remembered = rememberedLanguage();
  if (remembered) return remembered;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0];
    if (isLanguage(base)) return base;
  }
  return "en";
}

function interpolate(text: string, params: Params | undefined): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** A translate function: plural forms by Intl.PluralRules on `count`, `{name}` placeholders. */
export function translator(language: Language): Translate {
  const dictionary = DICTIONARIES[language];
  const plurals = new Intl.PluralRules(language);
  const numbers = new Intl.NumberFormat(language);
  return (key, params) => {
    const message = dictionary[key] ?? en[key];
    let text: string;
    if (typeof message === "string") {
      text = message;
    } else {
      const count = Number(params?.count ?? 0);
      const form = plurals.select(count) as keyof typeof message;
      text = message[form] ?? message.other;
    }
    const shown =
      params && typeof params.count === "number"
        ? { ...params, count: numbers.format(params.count) }
        : params;
    return interpolate(text, shown);
  };
}

export interface I18n {
  language: Language;
  t: Translate;
  setLanguage: (language: Language) => void;
}

export const I18nContext = createContext<I18n>({
  language: "en",
  t: translator("en"),
  setLanguage: () => undefined,
});

export function useI18n(): I18n {
  return useContext(I18nContext);
}
