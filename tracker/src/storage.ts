// Key-value storage that never throws: localStorage and sessionStorage can be
// missing (sandboxed iframes, blocked cookies) or full (quota). Everything
// that persists goes through `KV`, so the rules are testable with `memoryKV`.

export interface KV {
  get(key: string): string | null;
  /** False when the value could not be stored (quota, storage blocked). */
  set(key: string, value: string): boolean;
  remove(key: string): void;
}

/** A `KV` over a Web Storage object that may be unavailable. */
export function webKV(open: () => Storage): KV {
  const storage = (): Storage | null => {
    try {
      return open();
    } catch {
      return null;
    }
  };
  return {
    get(key) {
      try {
        return storage()?.getItem(key) ?? null;
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        const s = storage();
        if (!s) return false;
        s.setItem(key, value);
        return true;
      } catch {
        return false;
      }
    },
    remove(key) {
      try {
        storage()?.removeItem(key);
      } catch {
        // nothing to do: the value is unreadable anyway
      }
    },
  };
}

/** An in-memory `KV`; `quota` (in characters of keys and values) simulates a full storage. */
export function memoryKV(quota = Infinity): KV & { data: Map<string, string> } {
  const data = new Map<string, string>();
  const used = (): number => {
    let n = 0;
    data.forEach((v, k) => (n += k.length + v.length));
    return n;
  };
  return {
    data,
    get: (key) => data.get(key) ?? null,
    set(key, value) {
      const old = data.get(key);
      const after = used() - (old === undefined ? 0 : key.length + old.length) + key.length + value.length;
      if (after > quota) return false;
      data.set(key, value);
      return true;
    },
    remove: (key) => void data.delete(key),
  };
}

/** Parses JSON, or null when it is not JSON. */
export function parseJSON(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
