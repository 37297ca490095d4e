import { createHash } from 'node:crypto';

/**
 * The one Lua script every call of `RedisStore` runs: the core's window state machine
 * (`core/window-guard.ts`, `core/sliding-window.ts` in slot mode), kept in Redis, run
 * atomically, on the server's time. One script, dispatched on its first argument, so one SHA is
 * loaded (by the first `EVAL` after `NOSCRIPT`) and every call is one `EVALSHA`.
 *
 * Layout of a call:
 * - KEYS: for each guard (the upstream's, then the tenant's when the call is about one), its
 *   state hash then one list per window; then the op's extra key (the record marker, the baseline
 *   marker), if any.
 * - ARGV: op, now (`0`: the server's `TIME`), guard count; for each guard its window count and
 *   each window's line for the fast path (-1 for no budget); then for each guard one string: its
 *   window count and five numbers per window (windowMs, resolutionMs, budget, line,
 *   probeIntervalMs), comma-separated; then the op's own arguments.
 *
 * State hash of a guard: `ep` (epoch counter) and `last` (latest time seen: time never runs
 * backwards for a guard), and per window i: `x` (exceeded), `e` (epoch of the exceeded period),
 * `lp` (last probe), `ce` (cap error), `pi` (probe interval), `ga`/`gp`/`ge` (last probe grant:
 * at, previous last probe, epoch), `t` (total), `v` (version of the slots), `ra`/`rv` (cached
 * retry time and the version it was computed at). A window's list holds its slots, oldest first,
 * as `"<slot end>:<tokens>"`.
 */
export const SCRIPT = `
local op = ARGV[1]
local function fmt(n) return string.format('%.0f', n) end

-- From ARGV[4], for each guard: its window count, then each window's line for the fast path (-1:
-- no budget), as plain arguments (no parsing). Then each guard's windows as one argument,
-- 'n,ms,res,budget,line,pi,ms,…' (cheaper for the client than five per window), read only past
-- the fast path. Then the op's own arguments.
local guardCount = tonumber(ARGV[3])

-- The commonest decision of all, spelled out: the upstream's own guard with one or two windows,
-- every window within quota and below its line. No table is built (they cost more than the rest).
if op == 'decide' and guardCount == 1 then
  local n = ARGV[4]
  if n == '2' then
    local v = redis.call('HMGET', KEYS[1], 'ep', 'x1', 't1', 'x2', 't2')
    local l1, l2 = tonumber(ARGV[5]), tonumber(ARGV[6])
    local t1, t2 = v[3] or '0', v[5] or '0'
    if (v[2] == false or v[2] == '0') and (v[4] == false or v[4] == '0')
      and (l1 < 0 or tonumber(t1) < l1) and (l2 < 0 or tonumber(t2) < l2) then
      return 'F' .. (v[1] or '0') .. '|' .. t1 .. ':0,' .. t2 .. ':0'
    end
  elseif n == '1' then
    local v = redis.call('HMGET', KEYS[1], 'ep', 'x1', 't1')
    local l1 = tonumber(ARGV[5])
    local t1 = v[3] or '0'
    if (v[2] == false or v[2] == '0') and (l1 < 0 or tonumber(t1) < l1) then
      return 'F' .. (v[1] or '0') .. '|' .. t1 .. ':0'
    end
  end
end

local cfgAt = 4
for g = 1, guardCount do cfgAt = cfgAt + 1 + tonumber(ARGV[cfgAt]) end
local arg = cfgAt + guardCount

-- The common decision, first and cheap: every window within quota, and its usage below the line
-- even before expiry. Nothing to expire, nothing to write, no state tables built: a few fields
-- read and one short string back, 'F<epochs>|<total:0 per window>'.
if op == 'decide' then
  local a, k = 4, 1
  local epochs, seen = {}, {}
  for g = 1, guardCount do
    local n = tonumber(ARGV[a])
    local values
    if n == 2 then values = redis.call('HMGET', KEYS[k], 'ep', 'x1', 't1', 'x2', 't2')
    elseif n == 1 then values = redis.call('HMGET', KEYS[k], 'ep', 'x1', 't1')
    else
      local fields = { 'ep' }
      for i = 1, n do fields[2 * i] = 'x' .. i; fields[2 * i + 1] = 't' .. i end
      values = redis.call('HMGET', KEYS[k], unpack(fields))
    end
    epochs[g] = values[1] or '0'
    for i = 1, n do
      local x, t = values[2 * i], values[2 * i + 1] or '0'
      local line = tonumber(ARGV[a + i])
      if (x and x ~= '0') or (line >= 0 and tonumber(t) >= line) then
        epochs = nil; break
      end
      seen[#seen + 1] = t .. ':0'
    end
    if epochs == nil then break end
    a = a + 1 + n; k = k + 1 + n
  end
  if epochs ~= nil then return 'F' .. table.concat(epochs, ',') .. '|' .. table.concat(seen, ',') end
end

-- The common record, lean: every window's newest slot is the one this usage belongs to, none
-- has expired and no TTL needs moving. The newest slot's tokens are kept in the state hash
-- (ns, nn), so each window costs one LSET. Its arguments: seq, at, tokens, the marker's TTL, then
-- per guard per window its length and slot width, plain (no parsing). Numbers read from Redis are
-- written back as the strings they came as where they do not change: in Redis's Lua every
-- number turned into a string costs about as much as a command.
if op == 'record' then
  local now = tonumber(ARGV[2])
  if now == 0 then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  local at = tonumber(ARGV[arg + 1])
  if at == 0 or at > now then at = now end
  local tokens = tonumber(ARGV[arg + 2])
  local k, a, h = 1, 4, arg + 4
  local plan = {}
  for g = 1, guardCount do
    local n = tonumber(ARGV[a])
    local values
    if n == 2 then
      values = redis.call('HMGET', KEYS[k], 'xp', 'last', 'ns1', 'nn1', 't1', 'v1', 'os1',
        'ns2', 'nn2', 't2', 'v2', 'os2')
    elseif n == 1 then
      values = redis.call('HMGET', KEYS[k], 'xp', 'last', 'ns1', 'nn1', 't1', 'v1', 'os1')
    else
      local fields = { 'xp', 'last' }
      for i = 1, n do
        fields[#fields + 1] = 'ns' .. i; fields[#fields + 1] = 'nn' .. i
        fields[#fields + 1] = 't' .. i; fields[#fields + 1] = 'v' .. i
        fields[#fields + 1] = 'os' .. i
      end
      values = redis.call('HMGET', KEYS[k], unpack(fields))
    end
    local xp = tonumber(values[1])
    local longest = 0
    for i = 1, n do
      local ms, res = tonumber(ARGV[h]), tonumber(ARGV[h + 1])
      h = h + 2
      if ms > longest then longest = ms end
      local ns = values[5 * i - 2]
      local oldest = tonumber(values[5 * i + 2] or '0')
      -- The newest slot is this usage's, and the oldest has not expired.
      if not ns or tonumber(ns) ~= (math.floor(at / res) + 1) * res or oldest <= now - ms then
        plan = nil; break
      end
    end
    if plan == nil or xp == nil or now + longest + 60000 > xp + 30000 then plan = nil; break end
    plan[g] = { k = k, n = n, values = values }
    a = a + 1 + n; k = k + 1 + n
  end
  if plan ~= nil then
    local seq = tonumber(ARGV[arg])
    local previous = redis.call('SET', KEYS[k], ARGV[arg], 'PX', ARGV[arg + 3], 'GET')
    if previous and tonumber(previous) >= seq then
      redis.call('SET', KEYS[k], previous, 'PX', ARGV[arg + 3])
      return { 0, fmt(now), '' }
    end
    local nowText = fmt(now)
    for g, p in ipairs(plan) do
      local values = p.values
      local update = {}
      for i = 1, p.n do
        local nn = fmt(tonumber(values[5 * i - 1]) + tokens)
        redis.call('LSET', KEYS[p.k + i], -1, values[5 * i - 2] .. ':' .. nn)
        update[#update + 1] = 'nn' .. i; update[#update + 1] = nn
        update[#update + 1] = 't' .. i; update[#update + 1] = fmt(tonumber(values[5 * i] or '0') + tokens)
        update[#update + 1] = 'v' .. i; update[#update + 1] = fmt(tonumber(values[5 * i + 1] or '0') + 1)
      end
      if g == 1 and now > tonumber(values[2] or '0') then
        update[#update + 1] = 'last'; update[#update + 1] = nowText
      end
      redis.call('HSET', KEYS[p.k], unpack(update))
    end
    return { 1, nowText, '' }
  end
end

local configs = {}
for g = 1, guardCount do
  local c = {}
  for v in string.gmatch(ARGV[cfgAt + g - 1], '[^,]+') do c[#c + 1] = tonumber(v) end
  configs[g] = c
end

local guards = {}
local k = 1
for g = 1, guardCount do
  local c = configs[g]
  local guard = { key = KEYS[k], w = {}, dirty = {}, touched = false }
  k = k + 1
  for i = 1, c[1] do
    guard.w[i] = { key = KEYS[k], ms = c[5 * i - 3], res = c[5 * i - 2], budget = c[5 * i - 1],
      line = c[5 * i], pi = c[5 * i + 1] }
    k = k + 1
  end
  guards[g] = guard
end

-- Read only now, past the fast path, which needs no time.
local now = tonumber(ARGV[2])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

for _, guard in ipairs(guards) do
  local st = {}
  if op == 'record' then
    -- A record needs only the totals, slot versions and the two times: not the whole hash.
    local fields = { 'last', 'xp' }
    for i = 1, #guard.w do
      for _, f in ipairs({ 't', 'v', 'ns', 'nn', 'os' }) do fields[#fields + 1] = f .. i end
    end
    local values = redis.call('HMGET', guard.key, unpack(fields))
    for j = 1, #fields do st[fields[j]] = tonumber(values[j]) end
  else
    local raw = redis.call('HGETALL', guard.key)
    for j = 1, #raw, 2 do st[raw[j]] = tonumber(raw[j + 1]) end
  end
  guard.st = st
end
local extra = KEYS[k]
local shared = guards[1]
-- One clock per upstream: a server whose clock steps back does not move a window back.
if op ~= 'info' and (shared.st.last or 0) > now then now = shared.st.last end

local function get(g, f) return g.st[f] or 0 end
local function set(g, f, v) g.st[f] = v; g.dirty[f] = true; g.touched = true end

local changes = {}
local function change(gi, i, to, reason)
  local g = guards[gi]
  changes[#changes + 1] = gi .. ':' .. i .. ':' .. to .. ':' .. reason .. ':' .. fmt(get(g, 't' .. i))
end

local function split(item)
  local c = string.find(item, ':', 1, true)
  return tonumber(string.sub(item, 1, c - 1)), tonumber(string.sub(item, c + 1))
end

-- Drops slots whose end is at or before now - window; returns the total.
local function expire(g, i)
  local w = g.w[i]
  local total = get(g, 't' .. i)
  if total == 0 then return 0 end
  local cutoff = now - w.ms
  while true do
    local first = redis.call('LINDEX', w.key, 0)
    if not first then total = 0; set(g, 'ns' .. i, 0); set(g, 'os' .. i, 0); break end
    local stamp, tokens = split(first)
    -- os: the oldest slot, so that the lean record path knows without a LINDEX that none expired.
    if stamp > cutoff then
      if get(g, 'os' .. i) ~= stamp then set(g, 'os' .. i, stamp) end
      break
    end
    redis.call('LPOP', w.key)
    total = total - tokens
    set(g, 'v' .. i, get(g, 'v' .. i) + 1)
  end
  if total ~= get(g, 't' .. i) then set(g, 't' .. i, total) end
  return total
end

local function add(g, i, at, tokens)
  local w = g.w[i]
  local stamp = (math.floor(at / w.res) + 1) * w.res
  if stamp <= now - w.ms then return end
  local last = redis.call('LINDEX', w.key, -1)
  local lastStamp = -1
  local lastTokens = 0
  if last then lastStamp, lastTokens = split(last) end
  -- ns/nn: the newest slot and its tokens, so that the lean record path needs no LINDEX.
  if not last then
    -- A new list has no TTL yet: persist() gives it one now, whatever the guard's horizon says.
    g.fresh = true
    redis.call('RPUSH', w.key, fmt(stamp) .. ':' .. fmt(tokens))
    set(g, 'ns' .. i, stamp); set(g, 'nn' .. i, tokens)
  elseif stamp > lastStamp then
    redis.call('RPUSH', w.key, fmt(stamp) .. ':' .. fmt(tokens))
    set(g, 'ns' .. i, stamp); set(g, 'nn' .. i, tokens)
  elseif stamp == lastStamp then
    redis.call('LSET', w.key, -1, fmt(stamp) .. ':' .. fmt(lastTokens + tokens))
    set(g, 'ns' .. i, stamp); set(g, 'nn' .. i, lastTokens + tokens)
  else
    set(g, 'ns' .. i, 0)
    -- An older entry (a baseline, a replayed record): filed under its own slot, in order.
    local items = redis.call('LRANGE', w.key, 0, -1)
    for j = 1, #items do
      local s, n = split(items[j])
      if s == stamp then
        redis.call('LSET', w.key, j - 1, fmt(s) .. ':' .. fmt(n + tokens)); break
      elseif s > stamp then
        redis.call('LINSERT', w.key, 'BEFORE', items[j], fmt(stamp) .. ':' .. fmt(tokens)); break
      end
    end
  end
  local oldest = get(g, 'os' .. i)
  if oldest == 0 or stamp < oldest then set(g, 'os' .. i, stamp) end
  set(g, 't' .. i, get(g, 't' .. i) + tokens)
  set(g, 'v' .. i, get(g, 'v' .. i) + 1)
end

local function enterExceeded(gi, i, reason)
  local g = guards[gi]
  local ep = get(g, 'ep') + 1
  set(g, 'ep', ep)
  set(g, 'x' .. i, 1); set(g, 'e' .. i, ep); set(g, 'lp' .. i, now)
  set(g, 'ce' .. i, 0); set(g, 'pi' .. i, g.w[i].pi)
  change(gi, i, 'quota_exceeded', reason)
end

local function enterWithin(gi, i, reason)
  local g = guards[gi]
  set(g, 'x' .. i, 0); set(g, 'ce' .. i, 0)
  change(gi, i, 'within_quota', reason)
end

-- The earliest time usage is below the line if nothing more comes; cached by slot version.
local function retryAt(g, i)
  local w = g.w[i]
  if get(g, 'ce' .. i) == 1 or w.budget == 0 then return get(g, 'lp' .. i) + get(g, 'pi' .. i) end
  local version = get(g, 'v' .. i)
  if g.st['rv' .. i] == version and g.st['rl' .. i] == w.line then
    return math.max(get(g, 'ra' .. i), now)
  end
  local remaining = get(g, 't' .. i)
  local at = now
  if remaining >= w.line then
    for _, item in ipairs(redis.call('LRANGE', w.key, 0, -1)) do
      local s, n = split(item)
      remaining = remaining - n
      if remaining < w.line then at = s + w.ms; break end
    end
  end
  set(g, 'ra' .. i, at); set(g, 'rv' .. i, version); set(g, 'rl' .. i, w.line)
  return math.max(at, now)
end

-- Verdicts: 0 allow, 1 allowed because usage dropped, 2 probe due, 3 refuse.
local function evaluate(gi, i)
  local g = guards[gi]
  local w = g.w[i]
  if get(g, 'x' .. i) == 0 then
    -- Below the line even before expiry: nothing can trip, no slot to read.
    if w.budget == 0 or get(g, 't' .. i) < w.line then return 0 end
    if expire(g, i) >= w.line then enterExceeded(gi, i, 'budget_exhausted'); return 3 end
    return 0
  end
  local total = expire(g, i)
  if get(g, 'ce' .. i) == 0 and w.budget > 0 and total < w.line then
    enterWithin(gi, i, 'usage_dropped'); return 1
  end
  if now - get(g, 'lp' .. i) >= get(g, 'pi' .. i) then return 2 end
  return 3
end

local function persist()
  if shared.touched and (shared.st.last or 0) < now then set(shared, 'last', now) end
  for _, g in ipairs(guards) do
    if g.touched then
      local args = {}
      for f in pairs(g.dirty) do args[#args + 1] = f; args[#args + 1] = fmt(g.st[f]) end
      if #args > 0 then redis.call('HSET', g.key, unpack(args)) end
      -- Every key expires on its own: a little after its longest window, or its cap error's next
      -- probe. TTLs are moved only when that horizon moves by more than 30 s (or a list is new),
      -- not on every write.
      local ttl = 0
      for i, w in ipairs(g.w) do
        ttl = math.max(ttl, w.ms)
        if get(g, 'x' .. i) == 1 then ttl = math.max(ttl, get(g, 'lp' .. i) + get(g, 'pi' .. i) - now) end
      end
      ttl = ttl + 60000
      if g.fresh or g.st.xp == nil or now + ttl > g.st.xp + 30000 then
        redis.call('HSET', g.key, 'xp', fmt(now + ttl))
        redis.call('PEXPIRE', g.key, ttl)
        for _, w in ipairs(g.w) do redis.call('PEXPIRE', w.key, ttl) end
      end
    end
  end
end

-- Writes what changed and answers a write: applied, the time, the state changes.
local function done()
  persist()
  return { 1, fmt(now), table.concat(changes, ',') }
end

local function epochs()
  local out = {}
  for gi, g in ipairs(guards) do out[gi] = fmt(get(g, 'ep')) end
  return table.concat(out, ',')
end

if op == 'decide' then
  local refused, due, recovered = false, false, false
  for gi, g in ipairs(guards) do
    for i = 1, #g.w do
      local v = evaluate(gi, i)
      if v == 3 then refused = true elseif v == 2 then due = true elseif v == 1 then recovered = true end
    end
  end
  local route, probe, reason, bind, at = 'primary', 0, 'within_quota', '', 0
  if refused then
    route = 'fallback'
    local best = nil
    for gi, g in ipairs(guards) do
      for i = 1, #g.w do
        if get(g, 'x' .. i) == 1 then
          local r = retryAt(g, i)
          if best == nil or r > at then
            best = true; at = r; bind = gi .. ':' .. i
            reason = get(g, 'ce' .. i) == 1 and 'cap_error' or 'budget_exhausted'
          end
        end
      end
    end
  elseif due then
    probe = 1
    reason = 'probe_over_budget'
    for _, g in ipairs(guards) do
      for i = 1, #g.w do
        if get(g, 'x' .. i) == 1 then
          set(g, 'ga' .. i, now); set(g, 'gp' .. i, get(g, 'lp' .. i)); set(g, 'ge' .. i, get(g, 'e' .. i))
          set(g, 'lp' .. i, now)
          if get(g, 'ce' .. i) == 1 then reason = 'probe' end
        end
      end
    end
  elseif recovered then
    reason = 'usage_dropped'
  end
  persist()
  -- The totals each window had, for the local guard that answers if Redis goes away.
  local seen = {}
  for _, g in ipairs(guards) do
    for i = 1, #g.w do
      seen[#seen + 1] = fmt(get(g, 't' .. i)) .. ':' .. fmt(get(g, 'x' .. i) * (1 + get(g, 'ce' .. i)))
    end
  end
  return { route, probe, reason, fmt(now), epochs(), bind, fmt(at), table.concat(seen, ','),
    table.concat(changes, ',') }
end

if op == 'record' then
  -- ARGV: instance sequence number, at (0: now), tokens (then the lean path's hints, unused
  -- here). A sequence number at or below the one the marker holds was applied already: a replay of a write whose reply was
  -- lost is not counted twice.
  local seq = tonumber(ARGV[arg])
  local ttl = 0
  for _, w in ipairs(shared.w) do ttl = math.max(ttl, w.ms) end
  -- One command for the common case: the marker moves to this number, and says where it was.
  local previous = redis.call('SET', extra, fmt(seq), 'PX', ttl + 60000, 'GET')
  if previous and tonumber(previous) >= seq then
    redis.call('SET', extra, previous, 'PX', ttl + 60000)
    return { 0, fmt(now), '' }
  end
  local at = tonumber(ARGV[arg + 1])
  if at == 0 or at > now then at = now end
  for _, g in ipairs(guards) do
    for i = 1, #g.w do expire(g, i); add(g, i, at, tonumber(ARGV[arg + 2])) end
  end
  return done()
end

if op == 'success' then
  -- ARGV: one epoch per guard; -1 for a success without its decision (ends any period).
  for gi, g in ipairs(guards) do
    local epoch = tonumber(ARGV[arg + gi - 1])
    for i = 1, #g.w do
      if get(g, 'x' .. i) == 1 and (epoch < 0 or epoch >= get(g, 'e' .. i)) then
        enterWithin(gi, i, epoch < 0 and 'primary_success' or 'probe_success')
      end
    end
  end
  return done()
end

if op == 'cap' then
  -- ARGV: raw retry delay (-1: none), window index (0: all). One guard.
  local retry = tonumber(ARGV[arg])
  local only = tonumber(ARGV[arg + 1])
  for i = 1, #shared.w do
    if only == 0 or only == i then
      if get(shared, 'x' .. i) == 0 then enterExceeded(1, i, 'cap_error') end
      set(shared, 'ce' .. i, 1)
      if retry >= 0 then
        set(shared, 'pi' .. i, math.min(math.max(retry * 11 / 10, shared.w[i].pi), 9007199254740991))
      end
    end
  end
  return done()
end

if op == 'release' then
  -- ARGV: the probe's grant time. Only the latest grant of the same period is undone.
  local at = tonumber(ARGV[arg])
  for _, g in ipairs(guards) do
    for i = 1, #g.w do
      if get(g, 'x' .. i) == 1 and get(g, 'ga' .. i) == at and get(g, 'ge' .. i) == get(g, 'e' .. i)
        and get(g, 'lp' .. i) == at then
        set(g, 'lp' .. i, get(g, 'gp' .. i)); set(g, 'ga' .. i, -1)
      end
    end
  end
  persist()
  return { 1, fmt(now), '' }
end

if op == 'baseline' then
  -- ARGV: window index, instance id, then (at, tokens) pairs; a negative at is that long before
  -- now. Once per window across instances: the first instance marks the window (for as long as
  -- its usage can count); another instance, seeing the mark, loads nothing.
  local i = tonumber(ARGV[arg])
  local instance = ARGV[arg + 1]
  if not redis.call('SET', extra, instance, 'NX', 'PX', shared.w[i].ms) then
    if redis.call('GET', extra) ~= instance then return { 0, fmt(now), '' } end
  end
  expire(shared, i)
  for j = arg + 2, #ARGV, 2 do
    local at = tonumber(ARGV[j])
    if at < 0 then at = now + at end
    if at > now then at = now end
    add(shared, i, at, tonumber(ARGV[j + 1]))
  end
  persist()
  return { 1, fmt(now), '' }
end

if op == 'reset' or op == 'resume' then
  for i = 1, #shared.w do
    if op == 'reset' then
      redis.call('DEL', shared.w[i].key)
      set(shared, 't' .. i, 0); set(shared, 'v' .. i, get(shared, 'v' .. i) + 1)
      set(shared, 'ns' .. i, 0); set(shared, 'os' .. i, 0)
    end
    if get(shared, 'x' .. i) == 1 then enterWithin(1, i, op) end
  end
  return done()
end

if op == 'info' then
  -- Read only: a look-up never creates a key nor moves a TTL.
  local out = { fmt(now) }
  for i, w in ipairs(shared.w) do
    local total = 0
    local items = redis.call('LRANGE', w.key, 0, -1)
    local live = 0
    for _, item in ipairs(items) do
      local s, n = split(item)
      if s > now - w.ms then total = total + n; live = live + 1 end
    end
    shared.st['t' .. i] = total
    local exceeded = get(shared, 'x' .. i)
    local retry = ''
    local nextProbe = ''
    if exceeded == 1 then
      nextProbe = fmt(get(shared, 'lp' .. i) + get(shared, 'pi' .. i))
      retry = fmt(retryAt(shared, i))
    end
    out[#out + 1] = table.concat({ fmt(total), fmt(exceeded), fmt(get(shared, 'ce' .. i)), nextProbe, retry,
      fmt(live) }, ':')
  end
  return out
end

return redis.error_reply('quota-guard: unknown op ' .. tostring(op))
`;

/** The script's SHA-1, as `EVALSHA` wants it. */
export const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');
