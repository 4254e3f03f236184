import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describeError, type Problem } from "./api/errors";
import { useI18n } from "./i18n";

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
  setData: (data: T) => void;
}

/** Loads once per change of `deps`; a slower answer to an older request is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const { t } = useI18n();
  const [data, setData] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const translate = useRef(t);
  translate.current = t;
  useEffect(() => {
    let current = true;
    setLoading(true);
    setProblem(null);
    load().then(
      (value) => {
        if (!current) return;
        setData(value);
        setLoading(false);
      },
      (error: unknown) => {
        if (!current) return;
        setProblem(describeError(error, translate.current));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  return { data, problem, loading, reload: () => setGeneration((value) => value + 1), setData };
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export interface Pages<T> {
  items: T[];
  problem: Problem | null;
  loading: boolean;
  hasMore: boolean;
  loadMore: () => void;
  reload: () => void;
  update: (change: (items: T[]) => T[]) => void;
}

/** Keyset pages: the first page per change of `deps`, then the next one on request. */
export function usePages<T>(fetchPage: (pageToken: string) => Promise<Page<T>>, deps: unknown[]): Pages<T> {
  const { t } = useI18n();
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const request = useRef(0);
  const fetcher = useRef(fetchPage);
  fetcher.current = fetchPage;
  const translate = useRef(t);
  translate.current = t;

  const fetchInto = useCallback((pageToken: string, append: boolean) => {
    const mine = ++request.current;
    setLoading(true);
    setProblem(null);
    fetcher.current(pageToken).then(
      (page) => {
        if (mine !== request.current) return;
        setItems((previous) => (append ? [...previous, ...page.items] : page.items));
        setNext(page.nextPageToken);
        setLoading(false);
      },
      (error: unknown) => {
        if (mine !== request.current) return;
        setProblem(describeError(error, translate.current));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    setItems([]);
    setNext("");
    fetchInto("", false);
  }, [...deps, generation]);

  return {
    items,
    problem,
    loading,
    hasMore: next !== "",
    loadMore: () => fetchInto(next, true),
    reload: () => setGeneration((value) => value + 1),
    update: (change) => setItems(change),
  };
}

export interface Action {
  busy: boolean;
  problem: Problem | null;
  run: (work: () => Promise<void>) => Promise<boolean>;
  clear: () => void;
}

/** A button's or form's work: busy while it runs, its failure as a Problem in words. */
export function useAction(): Action {
  const { t } = useI18n();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = async (work: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    setProblem(null);
    try {
      await work();
      return true;
    } catch (error) {
      if (mounted.current) setProblem(describeError(error, t));
      return false;
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  return { busy, problem, run, clear: () => setProblem(null) };
}
