/** The two states of a guard (and of each of its windows). */
export type QuotaState = 'within_quota' | 'quota_exceeded';

/**
 * Why a decision went the way it did.
 * - `within_quota`: every window is below its line.
 * - `usage_dropped`: the guard was exceeded by its budget and usage slid below the line.
 * - `budget_exhausted`: usage reached `floor(budget × threshold)` in a window.
 * - `cap_error`: the upstream said its cap is reached; only a successful probe ends that.
 * - `probe`: one request let through to find out whether the capped upstream is back.
 * - `probe_over_budget`: a probe while the guard is exceeded only by its own budget. If it
 *   succeeds the guard returns to `within_quota`, and the next decision trips it again while usage
 *   is still over the line: one request per probe interval reaches the primary this way.
 * - `disabled`: the guard is disabled and always answers primary.
 * - `store_unavailable`: a shared store (Redis) could not be asked in time; a guard in this
 *   process answered, carrying on from the last shared state it saw.
 */
export type DecisionReason =
  | 'within_quota'
  | 'usage_dropped'
  | 'budget_exhausted'
  | 'cap_error'
  | 'probe'
  | 'probe_over_budget'
  | 'disabled'
  | 'store_unavailable';

/** Why a window changed state, as reported by `stateChange` events. */
export type TransitionReason =
  | 'budget_exhausted'
  | 'cap_error'
  | 'usage_dropped'
  | 'probe_success'
  | 'primary_success'
  | 'reset'
  | 'resume';

/**
 * Where to send one request. A value, never an exception: the fallback is a normal answer.
 *
 * @example
 * const d = guard.decide();
 * const res = await fetch(d.route === 'primary' ? PRIMARY : FALLBACK, init);
 * if (res.ok && d.route === 'primary') guard.recordSuccess(d);
 */
export interface Decision {
  readonly route: 'primary' | 'fallback';
  /** True for the one request per probe interval let through while the guard is exceeded. */
  readonly probe: boolean;
  readonly reason: DecisionReason;
  /** The guard's state after this decision. */
  readonly state: QuotaState;
  /**
   * Identifies the period the decision was taken in. A success reported with a decision taken
   * before the guard entered `quota_exceeded` is stale and does not recover the guard.
   */
  readonly epoch: number;
  /** Label of the window that refused (fallback decisions), e.g. `5h`. */
  readonly window?: string;
  /** Wall-clock time (epoch ms) at which the primary is expected back (fallback decisions). */
  readonly retryAt?: number;
  /** Milliseconds from the decision until `retryAt`. */
  readonly retryInMs?: number;
}

/** A state change of one window, as passed to `stateChange` listeners. */
export interface StateChangeEvent {
  /** The guard's name (`upstream` in adapters), if it has one. */
  readonly name?: string;
  /** The tenant key, for a tenant's guard. */
  readonly key?: string;
  /** The window's label, e.g. `5h`. */
  readonly window: string;
  readonly from: QuotaState;
  readonly to: QuotaState;
  readonly reason: TransitionReason;
  /** Wall-clock time of the change (epoch ms). */
  readonly at: number;
  readonly usageTokens: number;
  readonly budgetTokens: number;
}

/** A probe granted: one request goes to the primary while the guard is exceeded. */
export interface ProbeEvent {
  readonly name?: string;
  /** The tenant key, for a tenant's guard. */
  readonly key?: string;
  /** Labels of the exceeded windows whose probe slot this request took. */
  readonly windows: readonly string[];
  readonly at: number;
}
