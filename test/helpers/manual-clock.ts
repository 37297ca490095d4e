import type { Clock } from '../../src/index.js';

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  constructor(private time = 1_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
  set(ms: number): void {
    this.time = ms;
  }
}

export interface CapturedLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** A logger that remembers what it was told. */
export function captureLogger() {
  const lines: CapturedLog[] = [];
  const push = (level: CapturedLog['level']) => (message: string) => {
    lines.push({ level, message });
  };
  return {
    lines,
    logger: { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') },
  };
}
