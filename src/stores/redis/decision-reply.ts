import type { Decision, DecisionReason } from '../../core/decision.js';
import type { UpstreamDefinition } from './definition.js';

/**
 * The script's full answer to a decision: route, probe (1: granted), reason, the server's time,
 * the epochs per guard, the binding window (`guard:window`), when it expects the primary back,
 * the totals seen per window, the state changes made.
 */
export type ScriptReply = [string, number, DecisionReason, string, string, string, string, string, string];

/** A guard that is switched off decides nothing: one value for every call. */
export const DISABLED: Decision = Object.freeze({
  route: 'primary',
  probe: false,
  reason: 'disabled',
  state: 'within_quota',
  epoch: 0,
});

/**
 * The script's short answer for the common case, `F<epochs>|<seen>` (every window within quota),
 * as a decision, from its `epochs`. Within quota every decision of an epoch is the same value:
 * the upstream's own is made once per epoch, not per call.
 */
export function withinDecision(def: UpstreamDefinition, key: string | undefined, epochs: string): Decision {
  if (key === undefined && def.within?.epochs === epochs) return def.within.decision;
  const comma = epochs.indexOf(',');
  const decision: Decision = Object.freeze({
    route: 'primary',
    probe: false,
    reason: 'within_quota',
    state: 'within_quota',
    epoch: Number(comma < 0 ? epochs : epochs.slice(0, comma)),
  });
  if (key === undefined) def.within = { epochs, decision };
  return decision;
}

/** The script's full answer as a decision; a refusal names its window and when the primary is back. */
export function fullDecision(def: UpstreamDefinition, reply: ScriptReply): Decision {
  const [route, probe, reason, now, epochs, bind, retryAt] = reply;
  const fallback = route === 'fallback';
  return Object.freeze({
    route: fallback ? 'fallback' : 'primary',
    probe: probe === 1,
    reason,
    state: fallback || probe === 1 ? 'quota_exceeded' : 'within_quota',
    epoch: Number(epochs.split(',')[0]),
    ...(fallback ? retryFields(def, bind, Number(retryAt), Number(now)) : {}),
  });
}

function retryFields(def: UpstreamDefinition, bind: string, at: number, now: number) {
  const [g, i] = bind.split(':').map(Number);
  const windows = g === 2 ? def.tenantWindows : def.windows;
  const window = windows[(i ?? 1) - 1];
  return window === undefined ? {} : { window: window.label, retryAt: at, retryInMs: at - now };
}
