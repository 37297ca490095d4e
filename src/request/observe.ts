import type { BodyReading, BodyTap } from '../usage/body-tap.js';

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
    tap.end().then(done, () => undefined);
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
