-- Counts a batch of rate-limit hits, in order, exactly as
-- `reaper_runtime::ratelimit::counters::MemoryCounters` does (the rules
-- are in runtime/src/ratelimit/counters/{mod,fixed_window,sliding_window,
-- token_bucket}.rs; this file follows them line for line).
--
-- KEYS[i]: the counter of hit i (a hash: a = algorithm, p = period,
--   w0 w1 w2 = the state words the Rust `words()` give).
-- ARGV[1]: the time in ms, or '' to read Redis's own clock (TIME).
-- ARGV[1 + 5(i-1) + 1 .. 5]: algorithm (0 fixed, 1 sliding, 2 bucket),
--   burst, count, period_ms, hits of hit i.
-- Returns 3 strings per hit: allowed ('1'/'0'), remaining, reset_ms.
--
-- Lua numbers are doubles: every step below is exact while its operands
-- and result are integers below 2^53, and the module header of mod.rs
-- states the range that guarantees it. `%` is never used (Lua 5.1 computes
-- it through a rounded division); math.fmod is C's fmod, which is exact.

local TWO53 = 9007199254740992
local SKEW_TOLERANCE_MS = 1000
local AHEAD, BEHIND, STEPPED_BACK = 0, 1, 2

local function fmt(n)
  return string.format('%.0f', n)
end

-- a = q*b + r, 0 <= r < b, for integers 0 <= a < 2^53, 1 <= b.
local function divmod(a, b)
  local r = math.fmod(a, b)
  return (a - r) / b, r
end

-- a*b = q*c + r, 0 <= r < c, for integers a, b >= 0, 1 <= c < 2^52 and
-- q < 2^53, without forming a*b when it would not be exact: the low part
-- is long multiplication by b's bits, reduced modulo c at every step.
local function mul_div(a, b, c)
  local qa, ra = divmod(a, c)
  local q = qa * b
  if ra * b < TWO53 then
    local q2, r = divmod(ra * b, c)
    return q + q2, r
  end
  local bits = {}
  local n = b
  while n > 0 do
    local bit = math.fmod(n, 2)
    bits[#bits + 1] = bit
    n = (n - bit) / 2
  end
  local q2, r = 0, 0
  for i = #bits, 1, -1 do
    q2, r = q2 * 2, r * 2
    if r >= c then q2, r = q2 + 1, r - c end
    if bits[i] == 1 then
      r = r + ra
      if r >= c then q2, r = q2 + 1, r - c end
    end
  end
  return q + q2, r
end

local function tolerance(period)
  return math.max(period, SKEW_TOLERANCE_MS)
end

local function window_start(now, period)
  return now - math.fmod(now, period)
end

local function skew(counter, now, period)
  if counter <= now then return AHEAD end
  if counter - now <= tolerance(period) then return BEHIND end
  return STEPPED_BACK
end

-- Each algorithm: hit(state, count, burst, hits, now, period) updates the
-- state words in place and returns allowed, remaining, reset_ms;
-- idle_at(state, period) is the first time the state is idle (it is idle
-- from then on, as the Rust `is_idle`), nil if idle at any time.

local fixed = {}

function fixed.hit(s, count, _, hits, now, period)
  local at
  local sk = skew(s[1], now, period)
  if sk == AHEAD then
    local start = window_start(now, period)
    if start ~= s[1] then s[1], s[2] = start, 0 end
    at = now
  elseif sk == BEHIND then
    at = s[1]
  else
    -- Stepped back: move the window, keep the count.
    s[1] = window_start(now, period)
    at = now
  end
  -- Rust saturates at 2^64 - 1; stopping at 2^53 keeps the count exact and
  -- changes no answer for counts below 2^53.
  s[2] = math.min(s[2] + hits, TWO53)
  return s[2] <= count, math.max(count - s[2], 0), period - (at - s[1])
end

function fixed.idle_at(s, period)
  return s[1] + period
end

local sliding = {}

function sliding.hit(s, count, _, hits, now, period)
  local at
  local sk = skew(s[1], now, period)
  if sk == AHEAD then
    local start = window_start(now, period)
    if start ~= s[1] then
      if start - s[1] == period then s[3] = s[2] else s[3] = 0 end
      s[1], s[2] = start, 0
    end
    at = now
  elseif sk == BEHIND then
    at = s[1]
  else
    s[1] = window_start(now, period)
    at = now
  end
  local left = period - (at - s[1])
  -- w = ceil(prev * left / period)
  local q, r = mul_div(s[3], left, period)
  local weighed = q
  if r > 0 then weighed = q + 1 end
  local used = weighed + s[2]
  -- w + cur + hits <= count, without forming a sum past count.
  local allowed = used <= count and hits <= count - used
  if allowed then
    s[2] = s[2] + hits
    used = weighed + s[2]
  end
  local reset = 0
  if s[2] > 0 then
    reset = left + period
  elseif s[3] > 0 then
    reset = left
  end
  return allowed, math.max(count - used, 0), reset
end

function sliding.idle_at(s, period)
  if s[2] > 0 then return s[1] + 2 * period end
  if s[3] > 0 then return s[1] + period end
  return nil
end

local bucket = {}

-- State: tat_ms, tat_rem (TAT = tat_ms * count - tat_rem in units of
-- 1/count ms). Everything is computed relative to `now`, as the debt
-- D = max(0, TAT - now * count), so no absolute time is multiplied by the
-- count.
function bucket.hit(s, count, burst, hits, now, period)
  local rem = math.min(s[2], count - 1)
  local capacity = burst * period
  local debt = 0
  local changed = false
  local ahead_ms = s[1] - now
  if ahead_ms > 0 then
    -- debt = ahead_ms * count - rem; it exceeds capacity + tolerance
    -- exactly when ahead_ms > floor((capacity + tolerance + rem) / count).
    local most = divmod(capacity + tolerance(period) * count + rem, count)
    if ahead_ms > most then
      -- The clock was stepped back: the bucket is rebased to empty.
      debt = capacity
      changed = true
    else
      debt = ahead_ms * count - rem
    end
  end
  -- debt + hits * period <= capacity, without forming the product.
  local allowed = false
  if debt <= capacity then
    local fits = divmod(capacity - debt, period)
    allowed = hits <= fits
  end
  if allowed then
    debt = debt + hits * period
    changed = true
  end
  if changed then
    local q, r = divmod(debt, count)
    if r > 0 then
      s[1], s[2] = now + q + 1, count - r
    else
      s[1], s[2] = now + q, 0
    end
  end
  local remaining = 0
  if debt <= capacity then remaining = divmod(capacity - debt, period) end
  return allowed, remaining, math.max(s[1] - now, 0)
end

function bucket.idle_at(s, _)
  return s[1]
end

local ALGORITHMS = { [0] = fixed, [1] = sliding, [2] = bucket }

local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  now = tonumber(ARGV[1])
end

local out = {}
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 5
  local code = tonumber(ARGV[at + 1])
  local algorithm = ALGORITHMS[code]
  local burst = tonumber(ARGV[at + 2])
  local count = tonumber(ARGV[at + 3])
  local period = math.max(tonumber(ARGV[at + 4]), 1)
  local hits = math.max(tonumber(ARGV[at + 5]), 1)
  if count == 0 then
    -- Refuses everything and stores nothing.
    out[#out + 1] = '0'
    out[#out + 1] = '0'
    out[#out + 1] = fmt(period - math.fmod(now, period))
  else
    local stored = redis.call('HMGET', key, 'a', 'p', 'w0', 'w1', 'w2')
    local state
    if stored[1] and tonumber(stored[1]) == code and tonumber(stored[2]) == period then
      state = { tonumber(stored[3]), tonumber(stored[4]), tonumber(stored[5]) }
    end
    -- A new counter, or a restarted one (the algorithm or period changed).
    local fresh = state == nil
    if fresh then
      if code == 2 then
        state = { now, 0, 0 }
      else
        state = { window_start(now, period), 0, 0 }
      end
    end
    local allowed, remaining, reset = algorithm.hit(state, count, burst, hits, now, period)
    local idle_at = algorithm.idle_at(state, period)
    local idle = idle_at == nil or now >= idle_at
    if fresh and idle then
      -- A new counter left idle is never stored; a restarted one is dropped.
      if stored[1] then redis.call('DEL', key) end
    else
      redis.call('HSET', key, 'a', code, 'p', fmt(period),
        'w0', fmt(state[1]), 'w1', fmt(state[2]), 'w2', fmt(state[3]))
      -- Kept while it holds information, and a skew tolerance longer so a
      -- hit stamped slightly behind still finds it.
      redis.call('PEXPIREAT', key, fmt(math.max(idle_at or now, now) + tolerance(period)))
    end
    if allowed then out[#out + 1] = '1' else out[#out + 1] = '0' end
    out[#out + 1] = fmt(remaining)
    out[#out + 1] = fmt(reset)
  end
end
return out
