-- count_attempt: one login or register attempt, counted per email and per client address in fixed
-- windows; refused while either count has reached its cap (a refused attempt is not counted).
--
-- KEYS[1] email_attempts_key: attempts counter of the email (string; expires with its window)
-- KEYS[2] address_attempts_key: attempts counter of the client address (string; expires with its window)
-- ARGV[1] window_ms: window length, ms
-- ARGV[2] email_attempts_max: attempts allowed per email per window (0: no cap)
-- ARGV[3] address_attempts_max: attempts allowed per address per window (0: no cap)
-- Returns: ok {} | too_many_attempts {message, retryAfterMs}
-- Events: none

local email_attempts_key = KEYS[1]
local address_attempts_key = KEYS[2]
local window_ms = tonumber(ARGV[1])
local email_attempts_max = tonumber(ARGV[2])
local address_attempts_max = tonumber(ARGV[3])

local counters = {email_attempts_key, address_attempts_key}
local caps = {email_attempts_max, address_attempts_max}

local retry_after_ms = 0
for i = 1, 2 do
  if caps[i] > 0 and tonumber(redis.call('GET', counters[i]) or '0') >= caps[i] then
    local ttl = redis.call('PTTL', counters[i])
    if ttl < 0 then ttl = window_ms end
    if ttl > retry_after_ms then retry_after_ms = ttl end
  end
end
if retry_after_ms > 0 then
  return {'too_many_attempts', obj({'message', S('too many attempts; retry later'),
    'retryAfterMs', int(retry_after_ms)})}
end

for i = 1, 2 do
  if caps[i] > 0 and redis.call('INCR', counters[i]) == 1 then
    redis.call('PEXPIRE', counters[i], window_ms)
  end
end
return ok('{}')
