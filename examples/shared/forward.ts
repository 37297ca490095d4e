/** Calls an upstream's Messages endpoint and reads its JSON answer. */
export interface UpstreamAnswer {
  status: number;
  headers: Headers;
  body: { usage?: { input_tokens?: number; output_tokens?: number } } & Record<string, unknown>;
}

export async function forward(baseUrl: string, body: unknown): Promise<UpstreamAnswer> {
  const response = await fetch(`${baseUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as UpstreamAnswer['body'],
  };
}

/** Every input and output token of an Anthropic-style answer. */
export function tokensOf(answer: UpstreamAnswer): number | undefined {
  const usage = answer.body.usage;
  if (!usage) return undefined;
  return (usage.input_tokens ?? 0) + (usage.output_tokens ?? 0);
}
