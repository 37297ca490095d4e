import type { ServerResponse } from 'node:http';

/**
 * Calls `done` once the response is over for both sides: the connection closed (sent, or the
 * client went away) and the app finished its handler (or at least ended the response). A client
 * that leaves early must not cut off usage the app reports after that, so a close alone waits
 * for the app, within a bound. Returns the function to call when the app has finished;
 * `whenAbandoned` (optional) is told when the client left first, so an adapter that cannot
 * otherwise see the app finish can start watching for it then, and not on every request.
 */
export function watchResponse(
  res: ServerResponse,
  waitMs: number,
  done: (abandoned: boolean) => void,
  whenAbandoned?: (appFinished: () => void) => void,
): () => void {
  let closed = false;
  let appFinished = false;
  let fired = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fire = (abandoned: boolean) => {
    if (fired) return;
    fired = true;
    if (timer) clearTimeout(timer);
    done(abandoned);
  };
  const finished = () => {
    appFinished = true;
    if (closed) fire(false);
  };
  res.once('close', () => {
    closed = true;
    if (appFinished || res.writableEnded) return fire(false);
    // The app never finishing is no success: whatever status it sent, its answer is not whole.
    timer = setTimeout(fire, waitMs, true);
    timer.unref?.();
    whenAbandoned?.(finished);
  });
  return finished;
}
