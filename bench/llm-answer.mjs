/** The answer the benchmark servers send: shaped like an Anthropic message, with its usage. */
export const llmAnswer = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  content: [{ type: 'text', text: 'hello' }],
  usage: { input_tokens: 12, output_tokens: 3 },
};
