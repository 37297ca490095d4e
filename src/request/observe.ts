import type { BodyReading, BodyTap } from '../usage/body-tap.js';
import type { InFlight } from './in-flight.js';
import type { UpstreamOutcome } from './outcome.js';
import type { RequestQuota } from './quota-route.js';
import type { OutcomeReporter } from './report.js';
import type { UsageChecks } from './usage-checks.js';

/**
 * A copy of an upstream `fetch` response whose body feeds `tap` as the app reads it, chunk by
 * chunk: pulled, never read ahead, so back-pressure is the app's. `done` gets what the tap read
 * once the body ends, fails, or the app cancels it (client gone): whichever comes first, once.
 */
export function observeBody(
  response: Response,
  tap: BodyTap,
  done: (reading: BodyReading) => void,
): Response {
  const source = response.body;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    Promise.resolve(tap.end()).then(done, () => undefined);
  };
  if (source === null) {
    finish();
    return response;
  }
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          finish();
          controller.close();
          return;
        }
        tap.write(value);
        controller.enqueue(value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * `route.observe(response)`: an error answer is read and classified before it resolves; a
 * success resolves at once, its body's usage counted as the app reads it. Counted in flight
 * until then, so `settled()` waits for it.
 */
export async function observeResponse<Ctx>(
  route: RequestQuota,
  response: Response,
  tap: BodyTap,
  parts: { usage: UsageChecks<Ctx>; reporter: OutcomeReporter<Ctx>; inFlight: InFlight },
): Promise<Response> {
  const { usage, reporter, inFlight } = parts;
  inFlight.begin();
  let verdict: Promise<unknown> = Promise.resolve();
  const report = (reading: BodyReading) => {
    const status = response.status;
    const outcome: UpstreamOutcome = { status, headers: response.headers };
    const tokens = usage.fromBody(reading, status);
    if (tokens !== undefined) outcome.tokens = tokens;
    const body = reading.json ?? reading.streamError;
    if (body !== undefined) outcome.body = body;
    // The app handed over the primary's own fetch response: it was asked.
    verdict = Promise.resolve(reporter.apply(route, outcome, true)).finally(inFlight.doneFn);
  };
  if (response.ok) return observeBody(response, tap, report);
  // An error answer is small and its verdict must not wait for the app: read a copy now.
  await observeBody(response.clone(), tap, report)
    .arrayBuffer()
    .catch(() => undefined);
  await verdict;
  return response;
}
