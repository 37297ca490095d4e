/**
 * The load generator of `bench:adapters` when `wrk` is not installed: autocannon in a process of
 * its own. Usage: node autocannon-load.mjs <url> <connections> <seconds>; prints
 * `{"requests":N,"failures":M}`.
 */
import autocannon from 'autocannon';

const [url, connections, seconds] = process.argv.slice(2);
const result = await autocannon({ url, connections: Number(connections), duration: Number(seconds) });
console.log(JSON.stringify({ requests: result.requests.total, failures: result.non2xx + result.errors }));
