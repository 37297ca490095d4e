/**
 * npm start: a guard over a 5-hour and a weekly window, driven by simulated traffic on a
 * simulated clock, printing every state change, probe and routing decision as it happens.
 * Runs in well under a second; no network.
 */
import { type Decision, UpstreamGuard } from '../src/index.js';

const MINUTE = 60_000;
let now = Date.UTC(2026, 11, 1, 9, 0, 0); // simulated wall time; the guard reads only this
const clock = { now: () => now };
const stamp = () => new Date(now).toISOString().slice(11, 16);

const guard = new UpstreamGuard({
  name: 'anthropic',
  windows: [
    { window: '5h', budget: 2_000_000 },
    { window: '7d', budget: 20_000_000, probeInterval: '30m' },
  ],
  probeInterval: '5m',
  clock,
  logger: { warn() {}, error() {} }, // the events below say it better
});

guard.on('stateChange', (e) =>
  console.log(
    `${stamp()}  [${e.window}] ${e.from} → ${e.to} (${e.reason}, ${e.usageTokens.toLocaleString('en')} tokens)`,
  ),
);
guard.on('probe', (e) => console.log(`${stamp()}  probe granted (${e.windows.join(', ')})`));

// The app's view: where each request went.
const routed = { primary: 0, fallback: 0 };
function request(tokens: number, upstreamAnswer: (d: Decision) => 'ok' | 'cap' = () => 'ok'): Decision {
  const decision = guard.decide();
  routed[decision.route]++;
  if (decision.route === 'primary') {
    if (upstreamAnswer(decision) === 'cap') {
      guard.notifyCapError(60 * MINUTE); // a 429 with Retry-After: 3600
    } else {
      guard.recordUsage(tokens);
      guard.recordSuccess(decision);
    }
  }
  return decision;
}

console.log('— 1. Busy morning: 40k-token requests every minute until the 5h budget runs out');
for (let i = 0; i < 60; i++) {
  request(40_000);
  now += MINUTE;
}
const blocked = guard.decide();
console.log(
  `${stamp()}  next request → ${blocked.route} (${blocked.reason}, window ${blocked.window}),` +
    ` primary expected back in ${Math.round((blocked.retryInMs ?? 0) / MINUTE)} min`,
);

console.log('— 2. The upstream answers 429 to a probe: a cap error holds the guard until a probe succeeds');
let capped = true;
for (let i = 0; i < 240; i++) {
  request(40_000, (d) => (d.probe && capped ? 'cap' : 'ok'));
  if (i === 150) {
    console.log(`${stamp()}  (the vendor's cap resets)`);
    capped = false;
  }
  now += MINUTE;
}

console.log('— 3. Quiet afternoon');
for (let i = 0; i < 5; i++) {
  request(10_000);
  now += 30 * MINUTE;
}

const info = guard.info();
console.log(`\nrouted: ${routed.primary} primary, ${routed.fallback} fallback; state now ${info.state}`);
for (const w of info.windows) {
  console.log(
    `  ${w.window}: ${w.windowUsageTokens.toLocaleString('en')} / ${w.budgetTokens.toLocaleString('en')} tokens (${w.usagePercent}%)`,
  );
}
