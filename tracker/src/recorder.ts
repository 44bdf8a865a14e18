// rrweb behind the transport's `Recorder` interface.

import { record } from "@rrweb/record";
import { RESNAPSHOT_TAG, type Settings } from "../../protocol/ts/protocol";
import { captureErrors, captureKey, capturePlugins } from "./capture";
import { inputThrottle } from "./inputs";
import { privacyKey, privacyOptions } from "./privacy";
import type { Recorder } from "./transport";

export interface RrwebRecorder extends Recorder {
  /** A custom event (rrweb type 5), e.g. tag "error"; dropped when not recording. */
  custom(tag: string, payload: unknown): void;
  /** Emits the input events the throttle holds (before the page is left). */
  flush(): void;
}

/** rrweb's plugin list, whose observers take `unknown` options (ours are typed). */
type Plugins = NonNullable<NonNullable<Parameters<typeof record>[0]>["plugins"]>;

/** Can the browser parse `selector`? (rrweb throws on every node otherwise.) */
function parses(selector: string): boolean {
  try {
    document.createDocumentFragment().querySelector(selector);
    return true;
  } catch {
    return false;
  }
}

/** rrweb recording into `emit`; `serverOrigin` is the reel server's, whose requests are not recorded. */
export function rrwebRecorder(emit: (event: unknown) => void, serverOrigin: string | null): RrwebRecorder {
  let stopFn: (() => void) | undefined;
  /** Stops error capture (capture_errors). */
  let unwatch = (): void => {};
  let key = "";
  const inputs = inputThrottle(
    emit,
    (f, ms) => setTimeout(f, ms),
    (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  );
  const custom = (tag: string, payload: unknown): void => {
    try {
      if (stopFn) record.addCustomEvent(tag, payload);
    } catch {
      // not recording yet
    }
  };
  const stop = (): void => {
    const f = stopFn;
    stopFn = undefined;
    unwatch();
    unwatch = () => {};
    inputs.reset();
    try {
      f?.();
    } catch {
      // rrweb already stopped
    }
  };
  return {
    get recording() {
      return stopFn !== undefined;
    },
    start(settings: Settings): boolean {
      const k = privacyKey(settings) + captureKey(settings);
      if (stopFn && k === key) return false;
      stop();
      key = k;
      const privacy = privacyOptions(settings);
      if (!parses(privacy.blockSelector)) {
        // Privacy first: what the site wants blocked cannot be found, so nothing is recorded.
        console.warn(`reel: the site's block_selector ${JSON.stringify(settings.block_selector)} is not a valid CSS selector; not recording`);
        return false;
      }
      try {
        stopFn = record({
          emit: (e) => inputs.push(e),
          ...privacy,
          // Every input event (as typed, throttled by `inputs`); scrolls at most every 150 ms.
          sampling: { input: "all", scroll: 150 },
          plugins: capturePlugins(settings, serverOrigin) as unknown as Plugins,
        });
      } catch {
        stopFn = undefined;
      }
      if (stopFn) unwatch = captureErrors(settings, window, (p) => custom("error", p));
      return stopFn !== undefined;
    },
    stop,
    snapshot(rerecord = true) {
      // Throws until rrweb has taken its first snapshot (before `load`).
      try {
        if (!stopFn) return;
        // Tells the replay and the node that the Meta event next is this page again, not a page load.
        if (rerecord) record.addCustomEvent(RESNAPSHOT_TAG, {});
        record.takeFullSnapshot(true);
      } catch {
        // the first snapshot is still to come
      }
    },
    flush() {
      inputs.flush();
    },
    custom,
  };
}
