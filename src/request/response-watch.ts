import type { ServerResponse } from 'node:http';
import type { RequestQuota } from './quota-route.js';

/**
 * Tells when a response is over for both sides: the connection closed (sent, or the client went
 * away) and the app finished its handler (or at least ended the response). A client that leaves
 * early must not cut off usage the app reports after that, so a close alone waits for the app,
 * within `waitMs` (`abandonedTimeout`); `over(route, res, true)` says it passed with the app
 * still busy.
 *
 * One listener function serves every response of a guard: the request's state lives on its
 * decision (`RequestQuota`), which `locate` finds from the response. No closure per request.
 */
export class ResponseWatcher {
  private readonly onClose: (this: ServerResponse) => void;

  constructor(
    private readonly waitMs: number,
    private readonly over: (route: RequestQuota, res: ServerResponse, abandoned: boolean) => void,
    locate: (res: ServerResponse) => RequestQuota | undefined,
    /** Told when the client left first, so an adapter can start watching for the app's end then. */
    private readonly whenAbandoned?: (route: RequestQuota, res: ServerResponse) => void,
  ) {
    const watcher = this;
    this.onClose = function onResponseClose(this: ServerResponse) {
      const route = locate(this);
      if (route !== undefined) watcher.closed(route, this);
    };
  }

  watch(res: ServerResponse): void {
    res.on('close', this.onClose);
  }

  /** The app is done with the request (its handler settled, or it ended the response). */
  appFinished(route: RequestQuota, res: ServerResponse): void {
    route.appDone = true;
    if (route.closed) this.fire(route, res, false);
  }

  private closed(route: RequestQuota, res: ServerResponse): void {
    route.closed = true;
    if (route.appDone || res.writableEnded) {
      this.fire(route, res, false);
      return;
    }
    // The rare path (the client left first): a timer and a closure are fine here.
    route.timer = setTimeout(() => this.fire(route, res, true), this.waitMs);
    route.timer.unref?.();
    this.whenAbandoned?.(route, res);
  }

  private fire(route: RequestQuota, res: ServerResponse, abandoned: boolean): void {
    if (route.fired) return;
    route.fired = true;
    if (route.timer) clearTimeout(route.timer);
    this.over(route, res, abandoned);
  }
}
