/** Anything with console's `warn` and `error` (and optionally `info`, `debug`): console, pino, winston. */
export interface Logger {
  debug?(message: string, ...details: unknown[]): void;
  info?(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

/**
 * The default: warnings and errors go to the console (a guard tripping is something an
 * operator wants to see); informational lines stay quiet.
 */
export const consoleLogger: Logger = {
  warn: (message, ...details) => console.warn(message, ...details),
  error: (message, ...details) => console.error(message, ...details),
};

export const silentLogger: Logger = { warn() {}, error() {} };
