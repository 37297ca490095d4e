/** npm run example:koa — the Koa example with two local fake upstreams. */
import { startFakeUpstream } from '../shared/fake-upstream.js';
import { createApp } from './app.js';

const primary = await startFakeUpstream({ name: 'primary-llm', capTokens: 15_000 });
const fallback = await startFakeUpstream({ name: 'fallback-llm' });
const { app } = createApp({ primaryUrl: primary.url, fallbackUrl: fallback.url });
const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => {
  console.log(`Koa example on http://127.0.0.1:${port}
  primary  ${primary.url} (caps after 15,000 tokens)   fallback ${fallback.url}
  try:  curl -s -XPOST localhost:${port}/v1/messages -d '{}' -D - | grep -i x-served-by
        curl -s localhost:${port}/quota`);
});
