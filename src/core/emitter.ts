import type { Logger } from './logger.js';

/**
 * A minimal typed event emitter, so the core needs neither `node:events` nor a package.
 * A listener that throws is logged and does not stop the guard or the other listeners.
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Array<(event: never) => void>>();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  on<E extends keyof Events>(event: E, listener: (event: Events[E]) => void): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as (event: never) => void);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event);
      if (current)
        this.listeners.set(
          event,
          current.filter((l) => l !== listener),
        );
    };
  }

  has(event: keyof Events): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const listener of list) {
      try {
        (listener as (event: Events[E]) => void)(payload);
      } catch (error) {
        this.logger.error(`quota-guard: a '${String(event)}' listener threw`, error);
      }
    }
  }
}
